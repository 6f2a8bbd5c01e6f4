"""One writer per document across every replica, and a record of what a writer that died left in the index.

A replica about to write a document inserts its row in `document_writes` (the primary key makes it the only one),
renews the lease while it works, names the revision before writing its chunks, and deletes the row once the new
revision is live and the old one's chunks are gone. A row whose lease ran out belongs to a writer that died (or
stalled): whoever takes it over first removes what that writer left (services/ingest/pipeline.py, `settle`)."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from services.ingest.catalog import LeaseLost, now
from services.ingest.records.database import Database
from services.ingest.records.models import DocumentWrite
from services.runtime.errors import Unavailable

log = logging.getLogger(__name__)

# The revision a writer names when it is deleting the document: whoever takes its lease over finishes the delete.
DELETING = "-deleting-"


@dataclass(frozen=True)
class StaleWrite:
    """What a writer whose lease ran out was doing: the revision it was writing, and whether the catalogue had
    come to name it (then only the older revisions' chunks may remain; else its own are the ones to remove)."""

    tenant: str
    document_id: str
    revision: str
    committed: bool


class DocumentWrites:
    """Leases on documents, held by `holder` (this replica)."""

    def __init__(self, database: Database, holder: str, lease_seconds: float, wait_seconds: float) -> None:
        self.database = database
        self.holder = holder
        self._lease = timedelta(seconds=lease_seconds)
        self._wait = wait_seconds

    @contextlib.asynccontextmanager
    async def hold(self, tenant: str, document_id: str, wait: bool = True) -> AsyncIterator[StaleWrite | None]:
        """The document's lease for the block, renewed while it runs; yields what a dead writer left, if anything
        (Unavailable when another holds it past the wait, or at once without `wait`). When the block raises after
        naming a revision, the row stays with its lease run out, so that the next writer (or the reconciler)
        removes whatever this one may have left."""
        stale = await self.acquire(tenant, document_id, self._wait if wait else 0.0)
        renewing = asyncio.create_task(self._renew(tenant, document_id))
        try:
            yield stale
        except BaseException:
            renewing.cancel()
            await asyncio.shield(self._expire(tenant, document_id))
            raise
        renewing.cancel()
        await self.release(tenant, document_id)

    async def begin(self, tenant: str, document_id: str, revision: str) -> None:
        """Record the revision about to be written, before any of its chunks is (LeaseLost if the lease went)."""
        await self._update(tenant, document_id, revision=revision, committed=False)

    async def release(self, tenant: str, document_id: str) -> None:
        async with self.database.session() as session:
            await session.execute(self._mine(delete(DocumentWrite), tenant, document_id))

    async def expired(self, limit: int = 100) -> list[StaleWrite]:
        """Writes whose lease ran out, oldest first."""
        async with self.database.reading() as session:
            rows = await session.scalars(
                select(DocumentWrite)
                .where(DocumentWrite.expires_at < now())
                .order_by(DocumentWrite.expires_at)
                .limit(limit)
            )
            return [StaleWrite(r.tenant, r.document_id, r.revision, r.committed) for r in rows]

    async def acquire(self, tenant: str, document_id: str, wait: float) -> StaleWrite | None:
        """The lease, without renewing it (`hold` renews): what a dead writer left, if anything."""
        deadline = asyncio.get_running_loop().time() + wait
        pause = 0.02
        while True:
            if await self._insert(tenant, document_id):
                return None
            taken = await self._take_over(tenant, document_id)
            if taken is not None:
                return taken
            if asyncio.get_running_loop().time() > deadline:
                raise Unavailable(f"document {document_id!r} is being written by another request; try again shortly")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def _insert(self, tenant: str, document_id: str) -> bool:
        """A new lease row for the document; False when another writer's row is there (the primary key says so)."""
        try:
            async with self.database.session() as session:
                session.add(
                    DocumentWrite(
                        tenant=tenant,
                        document_id=document_id,
                        holder=self.holder,
                        expires_at=now() + self._lease,
                        revision="",
                        committed=False,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def _take_over(self, tenant: str, document_id: str) -> StaleWrite | None:
        """The row, made ours, when its lease has run out (compare-and-set: of two replicas one wins)."""
        async with self.database.session() as session:
            row = await session.get(DocumentWrite, (tenant, document_id))
            if row is None or row.expires_at >= now():
                return None
            stale = StaleWrite(tenant, document_id, row.revision, row.committed)
            won = await session.execute(
                update(DocumentWrite)
                .where(
                    DocumentWrite.tenant == tenant,
                    DocumentWrite.document_id == document_id,
                    DocumentWrite.holder == row.holder,
                    DocumentWrite.expires_at == row.expires_at,
                )
                .values(holder=self.holder, expires_at=now() + self._lease, revision="", committed=False)
            )
            if won.rowcount != 1:
                return None
        log.warning("took over the write of %s/%s from a writer whose lease ran out", tenant, document_id)
        return stale

    async def _renew(self, tenant: str, document_id: str) -> None:
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                await self._update(tenant, document_id, expires_at=now() + self._lease)
            except LeaseLost:
                log.error("lost the write lease of %s/%s; the write will be refused at commit", tenant, document_id)
                return
            except Exception:
                log.exception("could not renew the write lease of %s/%s", tenant, document_id)

    async def _expire(self, tenant: str, document_id: str) -> None:
        """Nothing written yet: the row goes. Else its lease ends now, for the next writer to settle."""
        with contextlib.suppress(Exception):
            async with self.database.session() as session:
                await session.execute(
                    self._mine(delete(DocumentWrite), tenant, document_id).where(DocumentWrite.revision == "")
                )
                await session.execute(
                    self._mine(update(DocumentWrite), tenant, document_id).values(
                        expires_at=datetime(1970, 1, 1, tzinfo=UTC)
                    )
                )

    async def _update(self, tenant: str, document_id: str, **values: object) -> None:
        async with self.database.session() as session:
            result = await session.execute(self._mine(update(DocumentWrite), tenant, document_id).values(**values))
        if result.rowcount != 1:
            raise LeaseLost(f"the write of {document_id!r} was taken over by another replica")

    def _mine(self, statement, tenant: str, document_id: str):
        return statement.where(
            DocumentWrite.tenant == tenant,
            DocumentWrite.document_id == document_id,
            DocumentWrite.holder == self.holder,
        )
