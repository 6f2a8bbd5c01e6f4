"""The document catalogue: what each tenant has indexed, its metadata schema, and the audit log that versions its
corpus. Every method is one short transaction on the ingest database (SQLite on one machine, PostgreSQL shared by
every replica); nothing here locks in process."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.announcements import ChangeAnnouncer
from services.ingest.duplicates import Fingerprint
from services.ingest.records.database import Database
from services.ingest.records.models import (
    AuditEntry,
    Document,
    DocumentAttribute,
    DocumentReader,
    DocumentWrite,
    MetadataSchema,
    Signature,
    SignatureBand,
)
from services.ingest.schema import FieldSpec
from services.runtime.access import Viewer, access_entries
from services.runtime.errors import Aborted


def now() -> datetime:
    return datetime.now(UTC)


def stamp(at: datetime) -> str:
    """A moment as the API shows it: ISO 8601 in UTC, to the millisecond."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class DocumentRecord:
    tenant: str
    document_id: str
    filename: str
    content_type: str
    title: str
    source: str
    tags: list[str] = field(default_factory=list)
    licence: str = ""
    chunk_count: int = 0
    size_bytes: int = 0
    content_hash: str = ""
    created_at: str = ""
    updated_at: str = ""
    # Values of the tenant's declared metadata fields.
    attributes: dict[str, object] = field(default_factory=dict)
    # Who may see the document inside its tenant; both empty: the whole tenant.
    allowed_users: list[str] = field(default_factory=list)
    allowed_groups: list[str] = field(default_factory=list)
    # What its licence allows it to be used for, as its owner declared.
    allowed_uses: list[str] = field(default_factory=list)
    # The revision whose chunks the index holds.
    revision: str = ""


def _record(row: Document) -> DocumentRecord:
    return DocumentRecord(
        tenant=row.tenant,
        document_id=row.document_id,
        filename=row.filename,
        content_type=row.content_type,
        title=row.title,
        source=row.source,
        tags=list(row.tags),
        licence=row.licence,
        chunk_count=row.chunk_count,
        size_bytes=row.size_bytes,
        content_hash=row.content_hash,
        created_at=stamp(row.created_at),
        updated_at=stamp(row.updated_at),
        attributes=dict(row.attributes),
        allowed_users=list(row.allowed_users),
        allowed_groups=list(row.allowed_groups),
        allowed_uses=list(row.allowed_uses or []),
        revision=row.revision,
    )


def attribute_values(attributes: dict[str, object]) -> list[tuple[str, str]]:
    values = []
    for name, value in attributes.items():
        for item in value if isinstance(value, list) else [value]:
            values.append((name, str(item)))
    return list(dict.fromkeys(values))


def visible_to(viewer: Viewer):
    """The documents a reader may see: one of the reader's own access entries among the document's."""
    entries = viewer.entries()
    if entries is None:
        return True
    return exists().where(
        DocumentReader.tenant == Document.tenant,
        DocumentReader.document_id == Document.document_id,
        DocumentReader.entry.in_(entries),
    )


# Audit actions that record a read, not a change: they do not move the corpus version.
READS = ("raw-read",)


class LeaseLost(Aborted):
    """Another replica took over this document's write (ours outlived its lease): its outcome stands, ours not."""


class Catalog:
    """Documents per tenant. Every write commits before it returns, with its audit entry in the same transaction."""

    def __init__(self, database: Database, announcer: ChangeAnnouncer | None = None) -> None:
        self.database = database
        self.announcer = announcer or ChangeAnnouncer("", None, 0)

    @asynccontextmanager
    async def _changing(self) -> AsyncIterator[AsyncSession]:
        """A write's transaction; once it has committed, the tenants whose corpus it moved are announced."""
        async with self.database.session() as session:
            yield session
        await self.announcer.announce(session.info.get("moved", set()))

    async def get(self, tenant: str, document_id: str) -> DocumentRecord | None:
        async with self.database.reading() as session:
            row = await session.get(Document, (tenant, document_id))
            return _record(row) if row else None

    async def page(self, tenant: str, limit: int, offset: int, viewer: Viewer) -> tuple[list[DocumentRecord], int]:
        """The documents the viewer may see, oldest first, and how many there are."""
        where = (Document.tenant == tenant, visible_to(viewer))
        async with self.database.reading() as session:
            rows = await session.scalars(
                select(Document)
                .where(*where)
                .order_by(Document.created_at, Document.document_id)
                .limit(limit)
                .offset(offset)
            )
            records = [_record(row) for row in rows]
            total = await session.scalar(select(func.count()).select_from(Document).where(*where))
        return records, int(total or 0)

    async def save(
        self,
        record: DocumentRecord,
        action: str,
        detail: dict[str, object],
        fingerprint: Fingerprint | None = None,
        holder: str = "",
        actor: str = "",
    ) -> None:
        """Insert or replace the record (and its near-duplicate fingerprint, when given) and append the audit entry,
        in one transaction. With `holder`, the document's write lease must still be that holder's (LeaseLost
        otherwise, and nothing changes); the lease then records that the catalogue names the new revision."""
        at = now()
        async with self._changing() as session:
            if holder:
                claimed = await session.execute(
                    update(DocumentWrite)
                    .where(
                        DocumentWrite.tenant == record.tenant,
                        DocumentWrite.document_id == record.document_id,
                        DocumentWrite.holder == holder,
                    )
                    .values(revision=record.revision, committed=True)
                )
                if claimed.rowcount != 1:
                    raise LeaseLost(f"the write of {record.document_id!r} was taken over by another replica")
            key = (record.tenant, record.document_id)
            existing = await session.get(Document, key)
            created = existing.created_at if existing else at
            if existing is not None:
                await session.delete(existing)
                await session.flush()
            session.add(
                Document(
                    tenant=record.tenant,
                    document_id=record.document_id,
                    filename=record.filename,
                    content_type=record.content_type,
                    title=record.title,
                    source=record.source,
                    tags=record.tags,
                    licence=record.licence,
                    chunk_count=record.chunk_count,
                    size_bytes=record.size_bytes,
                    content_hash=record.content_hash,
                    revision=record.revision,
                    attributes=record.attributes,
                    allowed_users=sorted(set(record.allowed_users)),
                    allowed_groups=sorted(set(record.allowed_groups)),
                    allowed_uses=record.allowed_uses,
                    created_at=created,
                    updated_at=at,
                )
            )
            record.created_at, record.updated_at = stamp(created), stamp(at)
            await self._forget(session, record.tenant, record.document_id, fingerprint is not None)
            session.add_all(
                DocumentReader(tenant=record.tenant, document_id=record.document_id, entry=entry)
                for entry in access_entries(record.allowed_users, record.allowed_groups)
            )
            session.add_all(
                DocumentAttribute(tenant=record.tenant, document_id=record.document_id, name=name, value=value)
                for name, value in attribute_values(record.attributes)
            )
            if fingerprint is not None:
                session.add(
                    Signature(tenant=record.tenant, document_id=record.document_id, minhash=fingerprint.signature)
                )
                session.add_all(
                    SignatureBand(tenant=record.tenant, band=band, document_id=record.document_id)
                    for band in fingerprint.bands
                )
            self._audit(session, record.tenant, record.document_id, action, detail, actor)

    async def delete(self, tenant: str, document_id: str, detail: dict[str, object], actor: str = "") -> None:
        async with self._changing() as session:
            await session.execute(
                delete(Document).where(Document.tenant == tenant, Document.document_id == document_id)
            )
            await self._forget(session, tenant, document_id, fingerprint=True)
            self._audit(session, tenant, document_id, "deleted", detail, actor)

    @staticmethod
    async def _forget(session: AsyncSession, tenant: str, document_id: str, fingerprint: bool) -> None:
        """Drop the document's side rows (access entries, attribute values and, when asked, its fingerprint)."""
        tables = [DocumentReader, DocumentAttribute] + ([Signature, SignatureBand] if fingerprint else [])
        for table in tables:
            await session.execute(delete(table).where(table.tenant == tenant, table.document_id == document_id))

    async def same_content(self, tenant: str, content_hash: str, other_than: str) -> list[str]:
        """The tenant's other documents whose extracted text hashes to `content_hash`."""
        async with self.database.reading() as session:
            rows = await session.scalars(
                select(Document.document_id).where(
                    Document.tenant == tenant, Document.content_hash == content_hash, Document.document_id != other_than
                )
            )
            return list(rows)

    async def sharing_a_band(self, tenant: str, bands: list[str], other_than: str) -> list[tuple[str, bytes]]:
        """(document id, signature) of the tenant's other documents that share an LSH band with `bands`."""
        sharing = (
            select(SignatureBand.document_id)
            .where(
                SignatureBand.tenant == tenant, SignatureBand.band.in_(bands), SignatureBand.document_id != other_than
            )
            .distinct()
        )
        async with self.database.reading() as session:
            rows = await session.execute(
                select(Signature.document_id, Signature.minhash).where(
                    Signature.tenant == tenant, Signature.document_id.in_(sharing)
                )
            )
            return [(document_id, bytes(minhash)) for document_id, minhash in rows]

    async def schema(self, tenant: str) -> tuple[list[FieldSpec], str]:
        """The tenant's declared fields (empty when it declared none) and when they were declared."""
        async with self.database.reading() as session:
            row = await session.get(MetadataSchema, tenant)
            if row is None:
                return [], ""
            return [FieldSpec(**spec) for spec in row.fields], stamp(row.updated_at)

    async def save_schema(self, tenant: str, fields: list[FieldSpec], actor: str = "") -> str:
        """Replace the schema and audit it, in one transaction; returns the time it was recorded."""
        at = now()
        async with self._changing() as session:
            row = await session.get(MetadataSchema, tenant)
            if row is None:
                row = MetadataSchema(tenant=tenant)
                session.add(row)
            row.fields, row.updated_at = [spec.__dict__ for spec in fields], at
            self._audit(session, tenant, "", "schema", {"fields": [spec.name for spec in fields]}, actor)
        return stamp(at)

    async def documents_carrying(self, tenant: str, name: str) -> int:
        """How many of the tenant's documents carry the attribute."""
        async with self.database.reading() as session:
            count = await session.scalar(
                select(func.count(DocumentAttribute.document_id.distinct())).where(
                    DocumentAttribute.tenant == tenant, DocumentAttribute.name == name
                )
            )
        return int(count or 0)

    async def observed_values(self, tenant: str, name: str, limit: int) -> list[str]:
        """The distinct values documents carry for a keyword (or keyword list) attribute, most common first."""
        n = func.count().label("n")
        async with self.database.reading() as session:
            rows = await session.execute(
                select(DocumentAttribute.value, n)
                .where(DocumentAttribute.tenant == tenant, DocumentAttribute.name == name)
                .group_by(DocumentAttribute.value)
                .order_by(n.desc(), DocumentAttribute.value)
                .limit(limit)
            )
            return [value for value, _ in rows]

    async def corpus_version(self, tenant: str) -> str:
        """The tenant's last audit entry: every change to its documents, their permissions or its schema appends
        one in the change's own transaction, so the version moves exactly when the corpus does."""
        async with self.database.reading() as session:
            newest = await session.scalar(
                select(func.max(AuditEntry.id)).where(AuditEntry.tenant == tenant, AuditEntry.action.not_in(READS))
            )
        return str(newest or 0)

    async def record(
        self, tenant: str, document_id: str, action: str, detail: dict[str, object], actor: str = ""
    ) -> None:
        """An audit entry on its own: for index changes that leave the catalogue as it was (a failed ingest whose
        chunks were briefly searchable, so that the corpus version still moves), and for reads worth recording."""
        async with self._changing() as session:
            self._audit(session, tenant, document_id, action, detail, actor)

    async def audit_log(self, tenant: str, after: int = 0, limit: int = 1000) -> list[dict[str, object]]:
        """The tenant's audit entries after id `after`, oldest first."""
        async with self.database.reading() as session:
            rows = await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.tenant == tenant, AuditEntry.id > after)
                .order_by(AuditEntry.id)
                .limit(limit)
            )
            return [
                {
                    "id": row.id,
                    "at": stamp(row.at),
                    "document_id": row.document_id,
                    "action": row.action,
                    "actor": row.actor,
                    "detail": row.detail,
                }
                for row in rows
            ]

    async def prune_audit(self, days: float) -> int:
        """Drop audit entries older than `days`; how many went. Each tenant's newest entry stays whatever its age:
        it is the tenant's corpus version, and a version must never go back to one a cache may still hold."""
        newest = select(func.max(AuditEntry.id)).where(AuditEntry.action.not_in(READS)).group_by(AuditEntry.tenant)
        async with self.database.session() as session:
            result = await session.execute(
                delete(AuditEntry).where(AuditEntry.at < now() - timedelta(days=days), AuditEntry.id.not_in(newest))
            )
        return int(result.rowcount or 0)

    @staticmethod
    def _audit(
        session: AsyncSession, tenant: str, document_id: str, action: str, detail: dict[str, object], actor: str
    ) -> None:
        if action not in READS:
            session.info.setdefault("moved", set()).add(tenant)
        session.add(
            AuditEntry(at=now(), tenant=tenant, document_id=document_id, action=action, actor=actor, detail=detail)
        )
