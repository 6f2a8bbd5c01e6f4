"""Durable ingest jobs: a batch of documents recorded in the ingest database, each document a row that ingest
workers on any replica claim, lease, and finish.

A document is acknowledged once its bytes are in the object store and its row is committed. A worker claims a row
with `SELECT ... FOR UPDATE SKIP LOCKED` (on SQLite, whose transactions here take the write lock at their start,
claims simply run one at a time), holds it under a lease it renews, and finishes it with its outcome; a row whose
lease ran out (its worker died) is claimed again by whoever looks next. Ingesting is idempotent (deterministic
chunk ids, the unchanged check, the write lease's settling), so the replay of a document a worker was half-way
through never duplicates anything.
"""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, delete, func, or_, select, update

from services.ingest.catalog import LeaseLost, now, stamp
from services.ingest.records.database import Database
from services.ingest.records.models import Job, JobItem
from services.runtime.errors import NotFound

QUEUED = "queued"
EXTRACTING = "extracting"
EMBEDDING = "embedding"
IN_PROGRESS = (EXTRACTING, EMBEDDING)
INDEXED, UNCHANGED, DUPLICATE, QUARANTINED, FAILED = "indexed", "unchanged", "duplicate", "quarantined", "failed"
FINISHED = (INDEXED, UNCHANGED, DUPLICATE, QUARANTINED, FAILED)


@dataclass
class Submitted:
    """One document of a job as submitted: its name, where its bytes wait, and what it was sent with."""

    name: str
    artifact_key: str
    request: dict[str, object]


@dataclass
class Claimed:
    id: int
    job_id: str
    tenant: str
    name: str
    artifact_key: str
    request: dict[str, object]
    attempts: int


@dataclass
class ItemView:
    position: int
    name: str
    state: str
    reason: str
    document_id: str
    chunk_count: int
    duplicate_of: str
    similarity: float
    attempts: int
    updated_at: str


@dataclass
class JobView:
    job_id: str
    tenant: str
    created_at: str
    submitted_by: str
    total: int
    items: list[ItemView] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.state] = counts.get(item.state, 0) + 1
        return counts

    @property
    def finished(self) -> int:
        return sum(1 for item in self.items if item.state in FINISHED)


def new_job_id() -> str:
    return "job_" + uuid.uuid4().hex[:24]


class JobQueue:
    """Jobs and their documents; `holder` names this replica's leases."""

    def __init__(self, database: Database, holder: str, lease_seconds: float) -> None:
        self.database = database
        self.holder = holder
        self._lease = timedelta(seconds=lease_seconds)

    async def submit(self, job_id: str, tenant: str, submitted_by: str, documents: list[Submitted]) -> None:
        """Record the job and its documents in one transaction (their bytes are already stored)."""
        at = now()
        async with self.database.session() as session:
            session.add(Job(id=job_id, tenant=tenant, created_at=at, created_by=submitted_by, total=len(documents)))
            await session.flush()
            session.add_all(
                JobItem(
                    job_id=job_id,
                    position=position,
                    tenant=tenant,
                    name=document.name,
                    artifact_key=document.artifact_key,
                    request=document.request,
                    state=QUEUED,
                    reason="",
                    document_id="",
                    chunks=0,
                    duplicate_of="",
                    similarity=0.0,
                    attempts=0,
                    lease_holder="",
                    updated_at=at,
                )
                for position, document in enumerate(documents)
            )

    async def claim(self) -> Claimed | None:
        """The oldest document ready to work on (queued and due, or in progress under a lease that ran out), leased
        to this replica; None when there is none."""
        at = now()
        ready = or_(
            and_(JobItem.state == QUEUED, or_(JobItem.not_before.is_(None), JobItem.not_before <= at)),
            and_(JobItem.state.in_(IN_PROGRESS), JobItem.lease_expires_at < at),
        )
        async with self.database.session() as session:
            row = await session.scalar(
                select(JobItem).where(ready).order_by(JobItem.id).limit(1).with_for_update(skip_locked=True)
            )
            if row is None:
                return None
            row.state, row.lease_holder, row.lease_expires_at = EXTRACTING, self.holder, at + self._lease
            row.attempts, row.updated_at = row.attempts + 1, at
            return Claimed(row.id, row.job_id, row.tenant, row.name, row.artifact_key, dict(row.request), row.attempts)

    async def progress(self, item_id: int, state: str = "") -> None:
        """Renew the lease (and move to `state` when given); LeaseLost when another worker took the document."""
        values: dict[str, object] = {"lease_expires_at": now() + self._lease, "updated_at": now()}
        if state:
            values["state"] = state
        await self._mine(item_id, values)

    async def finish(
        self,
        item_id: int,
        state: str,
        reason: str = "",
        document_id: str = "",
        chunks: int = 0,
        duplicate_of: str = "",
        similarity: float = 0.0,
    ) -> None:
        await self._mine(
            item_id,
            {
                "state": state,
                "reason": reason,
                "document_id": document_id,
                "chunks": chunks,
                "duplicate_of": duplicate_of,
                "similarity": similarity,
                "lease_holder": "",
                "lease_expires_at": None,
                "updated_at": now(),
            },
        )

    async def retry_later(self, item_id: int, reason: str, delay_seconds: float) -> None:
        """Back to the queue, not before `delay_seconds`, saying what it waits for."""
        at = now()
        await self._mine(
            item_id,
            {
                "state": QUEUED,
                "reason": reason,
                "not_before": at + timedelta(seconds=delay_seconds),
                "lease_holder": "",
                "lease_expires_at": None,
                "updated_at": at,
            },
        )

    async def get(self, tenant: str, job_id: str) -> JobView:
        async with self.database.reading() as session:
            job = await session.get(Job, job_id)
            if job is None or job.tenant != tenant:
                raise NotFound(f"job {job_id!r} not found")
            rows = await session.scalars(select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.position))
            return JobView(
                job_id=job.id,
                tenant=job.tenant,
                created_at=stamp(job.created_at),
                submitted_by=job.created_by,
                total=job.total,
                items=[
                    ItemView(
                        position=row.position,
                        name=row.name,
                        state=row.state,
                        reason=row.reason,
                        document_id=row.document_id,
                        chunk_count=row.chunks,
                        duplicate_of=row.duplicate_of,
                        similarity=row.similarity,
                        attempts=row.attempts,
                        updated_at=stamp(row.updated_at),
                    )
                    for row in rows
                ],
            )

    async def pending(self) -> int:
        """Documents not finished, every tenant's (the queue-depth gauge)."""
        async with self.database.reading() as session:
            count = await session.scalar(
                select(func.count()).select_from(JobItem).where(JobItem.state.not_in(FINISHED))
            )
        return int(count or 0)

    async def _mine(self, item_id: int, values: dict[str, object]) -> None:
        async with self.database.session() as session:
            result = await session.execute(
                update(JobItem)
                .where(JobItem.id == item_id, JobItem.lease_holder == self.holder, JobItem.state.not_in(FINISHED))
                .values(**values)
            )
        if result.rowcount != 1:
            raise LeaseLost(f"job document {item_id} was taken over by another worker")

    async def prune(self, days: float) -> int:
        """Drop jobs older than `days` whose documents have all finished; how many went."""
        cutoff = now() - timedelta(days=days)
        unfinished = select(JobItem.job_id).where(JobItem.state.not_in(FINISHED))
        async with self.database.session() as session:
            old = list(await session.scalars(select(Job.id).where(Job.created_at < cutoff, Job.id.not_in(unfinished))))
            if old:
                await session.execute(delete(JobItem).where(JobItem.job_id.in_(old)))
                await session.execute(delete(Job).where(Job.id.in_(old)))
        return len(old)
