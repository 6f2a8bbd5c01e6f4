"""The quarantine list: documents refused with the reason (unreadable, over a limit, excluded) and documents held
back until an administrator looks (they read like a prompt injection). A held document keeps its raw artifact and
what it was sent with, so that releasing it ingests it exactly as it was sent."""

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, func, select

from services.ingest.catalog import now, stamp
from services.ingest.metrics import QUARANTINED
from services.ingest.records.database import Database
from services.ingest.records.models import QuarantineEntry
from services.runtime.errors import NotFound

REFUSED = "refused"
HELD = "held"


@dataclass
class Quarantined:
    id: int
    at: str
    tenant: str
    filename: str
    content_type: str
    size_bytes: int
    reason: str
    kind: str
    document_id: str = ""
    artifact_key: str = ""
    request: dict[str, object] = field(default_factory=dict)


def _entry(row: QuarantineEntry) -> Quarantined:
    return Quarantined(
        id=row.id,
        at=stamp(row.at),
        tenant=row.tenant,
        filename=row.filename,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        reason=row.reason,
        kind=row.kind,
        document_id=row.document_id,
        artifact_key=row.artifact_key,
        request=dict(row.request or {}),
    )


class Quarantine:
    """Entries per tenant, newest last; the gauge counts every tenant's."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def add(
        self,
        tenant: str,
        filename: str,
        content_type: str,
        size_bytes: int,
        reason: str,
        kind: str = REFUSED,
        document_id: str = "",
        artifact_key: str = "",
        request: dict[str, object] | None = None,
    ) -> int:
        async with self.database.session() as session:
            row = QuarantineEntry(
                at=now(),
                tenant=tenant,
                filename=filename,
                content_type=content_type,
                size_bytes=size_bytes,
                reason=reason,
                kind=kind,
                document_id=document_id,
                artifact_key=artifact_key,
                request=request or {},
            )
            session.add(row)
            await session.flush()
            entry_id = row.id
        await self.count()
        return entry_id

    async def entries(self, tenant: str, kind: str = "") -> list[Quarantined]:
        where = [QuarantineEntry.tenant == tenant] + ([QuarantineEntry.kind == kind] if kind else [])
        async with self.database.reading() as session:
            rows = await session.scalars(select(QuarantineEntry).where(*where).order_by(QuarantineEntry.id))
            return [_entry(row) for row in rows]

    async def get(self, tenant: str, entry_id: int) -> Quarantined:
        async with self.database.reading() as session:
            row = await session.get(QuarantineEntry, entry_id)
            if row is None or row.tenant != tenant:
                raise NotFound(f"quarantine entry {entry_id} not found")
            return _entry(row)

    async def remove(self, tenant: str, entry_id: int) -> bool:
        """Drop the entry; False when it was already gone (another replica released or deleted it)."""
        async with self.database.session() as session:
            result = await session.execute(
                delete(QuarantineEntry).where(QuarantineEntry.id == entry_id, QuarantineEntry.tenant == tenant)
            )
        await self.count()
        return bool(result.rowcount)

    async def prune(self, days: float) -> list[Quarantined]:
        """Drop entries older than `days`; the ones that went (their artifacts are the caller's to delete)."""
        cutoff = now() - timedelta(days=days)
        async with self.database.session() as session:
            rows = list(await session.scalars(select(QuarantineEntry).where(QuarantineEntry.at < cutoff)))
            await session.execute(delete(QuarantineEntry).where(QuarantineEntry.id.in_([row.id for row in rows])))
            gone = [_entry(row) for row in rows]
        await self.count()
        return gone

    async def count(self) -> int:
        async with self.database.reading() as session:
            total = int(await session.scalar(select(func.count()).select_from(QuarantineEntry)) or 0)
        QUARANTINED.set(total)
        return total
