"""What keeps the ingest records honest over time, in every replica: abandoned writes settled (what a writer that
died left in the index removed), and quarantine, audit and job entries dropped past their retention."""

import asyncio
import logging

from services.ingest.artifacts import RawArtifacts, document_key
from services.ingest.catalog import Catalog
from services.ingest.config import IngestSettings
from services.ingest.downstream import Downstream
from services.ingest.jobs import JobQueue
from services.ingest.metrics import JOB_BACKLOG
from services.ingest.quarantine import Quarantine
from services.ingest.writes import DELETING, DocumentWrites, StaleWrite
from services.runtime.errors import Unavailable

log = logging.getLogger(__name__)


class Upkeep:
    def __init__(
        self,
        settings: IngestSettings,
        catalog: Catalog,
        quarantine: Quarantine,
        jobs: JobQueue,
        writes: DocumentWrites,
        artifacts: RawArtifacts,
        downstream: Downstream,
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._quarantine = quarantine
        self._jobs = jobs
        self._writes = writes
        self._artifacts = artifacts
        self._downstream = downstream
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._prune_daily()), asyncio.create_task(self._reconcile_often())]

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def settle(self, stale: StaleWrite) -> None:
        """Remove what a dead writer left: the chunks of the revision it was writing when the catalogue never came
        to name it, else those of the revisions before it; a delete it began is finished."""
        if not stale.revision:
            return  # it had written nothing (or held a text's turn, not a document)
        tenant, document_id = stale.tenant, stale.document_id
        current = await self._catalog.get(tenant, document_id)
        if stale.revision == DELETING:
            await self._downstream.delete_chunks(tenant, document_id)
            if current is not None:
                await self._catalog.delete(tenant, document_id, {"chunks": current.chunk_count, "settled": True})
                await self._artifacts.delete(tenant, document_id, current.revision)
        elif stale.revision and current is not None and (stale.committed or current.revision == stale.revision):
            await self._downstream.delete_chunks(tenant, document_id, keep_revision=current.revision)
            # Bytes of earlier revisions are the writer's to remove once the new one is live; its own stay.
        elif stale.revision:
            await self._downstream.delete_chunks(tenant, document_id, only_revision=stale.revision)
            await self._artifacts.store.delete(document_key(tenant, document_id, stale.revision))
            await self._catalog.record(tenant, document_id, "ingest-discarded", {"revision": stale.revision})
        log.warning("settled an abandoned write of %s/%s (revision %r)", tenant, document_id, stale.revision)

    async def reconcile(self) -> int:
        """Settle every write whose writer died (its lease ran out): the index is left holding exactly the revision
        the catalogue names. How many were settled."""
        settled = 0
        for abandoned in await self._writes.expired():
            try:
                async with self._writes.hold(abandoned.tenant, abandoned.document_id, wait=False) as stale:
                    if stale is not None:
                        await self.settle(stale)
                        settled += 1
            except Unavailable:
                continue  # another replica got there first, or the vector store is down: next round
        return settled

    async def _reconcile_often(self) -> None:
        every = self._settings.write_lease_seconds
        while True:
            await asyncio.sleep(every)
            try:
                await self.reconcile()
                JOB_BACKLOG.set(await self._jobs.pending())
            except Exception:
                log.exception("reconciling abandoned writes failed; trying again in %ss", every)

    async def _prune_daily(self) -> None:
        s = self._settings
        while True:
            try:
                quarantined = (
                    await self._quarantine.prune(s.quarantine_retention_days) if s.quarantine_retention_days else []
                )
                for entry in quarantined:
                    if entry.artifact_key:
                        await self._artifacts.store.delete(entry.artifact_key)
                audited = await self._catalog.prune_audit(s.audit_retention_days) if s.audit_retention_days else 0
                jobs = await self._jobs.prune(s.job_retention_days) if s.job_retention_days else 0
                if quarantined or audited or jobs:
                    log.info(
                        "past their retention: %d quarantine entries, %d audit entries and %d jobs dropped",
                        len(quarantined),
                        audited,
                        jobs,
                    )
            except Exception:
                log.exception("pruning quarantine, audit and job entries failed; trying again tomorrow")
            await asyncio.sleep(24 * 3600)
