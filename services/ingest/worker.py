"""Ingest workers: tasks in every replica that claim the documents of batch jobs (services/ingest/jobs.py) and
ingest them through the same pipeline as a single upload.

While the embedder or the vector store is down a document goes back to the queue, saying what it waits for, and is
tried again after a back-off that doubles (with jitter) up to a ceiling; nothing is lost and nothing is given up
on for that. Anything else unexpected is tried `job_max_attempts` times before the document is marked failed. The
back-off is a row's `not_before`, not a retry inside one process (tenacity and the like retry a call in process; the
wait must survive the worker), so it is computed here.
"""

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from urllib.parse import urlsplit

from google.protobuf import json_format

from ragmesh.ingest.v1 import ingest_pb2
from services.ingest import jobs
from services.ingest.artifacts import upload_key
from services.ingest.catalog import LeaseLost
from services.ingest.config import IngestSettings
from services.ingest.fetch import Fetcher
from services.ingest.inputs import IngestInput
from services.ingest.jobs import Claimed, JobQueue
from services.ingest.metrics import JOB_DOCUMENTS
from services.ingest.pipeline import Ingestor
from services.ingest.sources import url_document_id
from services.records.objects import ObjectStore
from services.runtime.errors import Aborted, InvalidArgument, Unavailable

log = logging.getLogger(__name__)

# Who submits the recrawl jobs.
RECRAWL = "ingest/recrawl"


@dataclass
class _FetchedInput:
    changed: bool
    document_id: str
    item: IngestInput | None = None
    etag: str = ""
    last_modified: str = ""


MAX_DOCUMENTS = 10_000

_STATE = {
    "created": jobs.INDEXED,
    "updated": jobs.INDEXED,
    "unchanged": jobs.UNCHANGED,
    "duplicate": jobs.DUPLICATE,
    # Held back as a likely prompt injection: in quarantine, with the reason, until an admin releases it.
    "held": jobs.QUARANTINED,
}


def job_input(tenant: str, name: str, content: bytes, request: dict[str, object]) -> IngestInput:
    """The ingest input of a job's document, from what it was submitted with (a JobDocument, as JSON)."""
    metadata = request.get("metadata", {})
    assert isinstance(metadata, dict)
    return IngestInput(
        tenant=tenant,
        filename=name,
        content_type=str(request.get("contentType", "")),
        content=content,
        title=str(metadata.get("title", "")),
        source=str(metadata.get("source", "")),
        tags=list(metadata.get("tags", [])),
        licence=str(metadata.get("licence", "")),
        document_id=str(request.get("documentId", "")),
        attributes=dict(metadata.get("attributes", {})),
        allowed_users=list(metadata.get("allowedUsers", [])),
        allowed_groups=list(metadata.get("allowedGroups", [])),
        allowed_uses=list(metadata.get("allowedUses", [])),
        actor=str(request.get("actor", "")),
    )


def request_of(document: object) -> dict[str, object]:
    """What a JobDocument was sent with, less its bytes, as JSON for the job's row."""
    recorded = json_format.MessageToDict(document)
    recorded.pop("content", None)
    return recorded


class Workers:
    """`settings.job_workers` tasks claiming and ingesting job documents until stopped."""

    def __init__(self, ingestor: Ingestor, settings: IngestSettings) -> None:
        self._ingestor = ingestor
        self._settings = settings
        self._tasks: list[asyncio.Task] = []
        self._wake = asyncio.Event()
        self._fetcher: Fetcher | None = None

    @property
    def _queue(self) -> JobQueue:
        return self._ingestor.jobs

    @property
    def _store(self) -> ObjectStore:
        return self._ingestor.store

    async def submit(self, tenant: str, submitted_by: str, documents: list) -> str:
        """Store every document's bytes, then record the job: when this returns, the job is durable (acknowledged).
        `documents` are JobDocument messages. InvalidArgument for a job that breaks a bound, and nothing stored."""
        s = self._settings
        if not tenant:
            raise InvalidArgument("tenant is required")
        if not documents:
            raise InvalidArgument("a job needs at least one document")
        if len(documents) > MAX_DOCUMENTS:
            raise InvalidArgument(f"{len(documents)} documents; a job takes at most {MAX_DOCUMENTS}")
        for position, document in enumerate(documents):
            if len(document.content) > s.max_document_bytes:
                raise InvalidArgument(
                    f"document {position} ({document.filename!r}) is {len(document.content)} bytes; the limit is "
                    f"{s.max_document_bytes}",
                    reason="too_large",
                )
            if document.url and document.content:
                raise InvalidArgument(f"document {position}: give content or a url, not both")
            if document.url and (
                urlsplit(document.url).scheme not in ("http", "https") or not urlsplit(document.url).hostname
            ):
                raise InvalidArgument(f"document {position}: {document.url!r} is not an http(s) URL")
            if not document.url and not document.filename:
                raise InvalidArgument(f"document {position}: a file name (or a url) is required")
        job_id = jobs.new_job_id()
        submitted = []
        for position, document in enumerate(documents):
            if document.url:
                # Fetched by the worker that takes it; nothing to store yet.
                submitted.append(jobs.Submitted(document.url, "", {**request_of(document), "actor": submitted_by}))
                continue
            key = upload_key(job_id, position)
            await self._store.put(key, document.content, {"name": document.filename, "job": job_id})
            submitted.append(jobs.Submitted(document.filename, key, {**request_of(document), "actor": submitted_by}))
        await self._queue.submit(job_id, tenant, submitted_by, submitted)
        self._wake.set()
        return job_id

    def start(self) -> None:
        self._fetcher = Fetcher(self._settings)
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self._settings.job_workers)]
        if self._settings.recrawl_hours:
            self._tasks.append(asyncio.create_task(self._recrawl_often()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._fetcher is not None:
            await self._fetcher.close()

    async def recrawl(self) -> int:
        """Queue a job per tenant of the sources whose recrawl is due; how many sources."""
        due = await self._ingestor.sources.claim_due()
        for tenant, known in due.items():
            documents = [
                json_format.ParseDict(k.request, ingest_pb2.JobDocument(), ignore_unknown_fields=True) for k in known
            ]
            await self.submit(tenant, RECRAWL, documents)
        return sum(map(len, due.values()))

    async def _recrawl_often(self) -> None:
        while True:
            try:
                await self.recrawl()
            except Exception:
                log.exception("queueing due recrawls failed; trying again shortly")
            await asyncio.sleep(self._settings.recrawl_check_seconds)

    async def _loop(self) -> None:
        while True:
            try:
                claimed = await self._queue.claim()
            except Exception:
                log.exception("could not claim a job document; trying again shortly")
                claimed = None
            if claimed is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.job_poll_seconds)
                continue
            await self.run(claimed)

    async def run(self, claimed: Claimed) -> None:
        """Ingest one claimed document and record its outcome (unless another worker took it over meanwhile)."""
        renewing = asyncio.create_task(self._renew(claimed.id))
        try:
            await self._run(claimed)
        except LeaseLost:
            log.warning("job document %s was taken over by another worker; leaving it", claimed.id)
        finally:
            renewing.cancel()

    async def _run(self, claimed: Claimed) -> None:
        s = self._settings
        url = str(claimed.request.get("url", ""))
        try:
            if url:
                fetched = await self._fetch(claimed, url)
                if not fetched.changed:
                    await self._finish(claimed, jobs.UNCHANGED, document_id=fetched.document_id)
                    return
                item = fetched.item
            else:
                content = await self._store.get(claimed.artifact_key)
                item = job_input(claimed.tenant, claimed.name, content, claimed.request)
            result = await self._ingestor.ingest(item, lambda stage: self._queue.progress(claimed.id, stage))
            if url:
                await self._ingestor.sources.fetched(
                    claimed.tenant, url, result.document_id, fetched.etag, fetched.last_modified, claimed.request
                )
        except LeaseLost:
            raise
        except FileNotFoundError:
            await self._finish(claimed, jobs.FAILED, reason="its bytes are missing from the object store")
        except InvalidArgument as exc:
            if url and exc.reason in ("excluded", "too_large"):
                # Refused before extraction: on the quarantine list too, with the reason.
                await self._ingestor.quarantine.add(claimed.tenant, url, "", 0, str(exc))
            await self._finish(claimed, jobs.QUARANTINED, reason=str(exc))
        except (Unavailable, Aborted) as exc:
            # The embedder or vector store is down (or another request holds the document): wait, however long.
            delay = min(s.job_retry_most_seconds, s.job_retry_first_seconds * 2 ** min(claimed.attempts - 1, 30))
            delay *= random.uniform(0.5, 1.0)
            await self._queue.retry_later(claimed.id, f"waiting: {exc}", delay)
            JOB_DOCUMENTS.labels("retried").inc()
        except Exception as exc:
            log.exception("job document %s failed (attempt %d)", claimed.id, claimed.attempts)
            if claimed.attempts >= s.job_max_attempts:
                await self._finish(claimed, jobs.FAILED, reason=f"failed {claimed.attempts} times; last: {exc}")
            else:
                await self._queue.retry_later(claimed.id, f"retrying after an error: {exc}", s.job_retry_first_seconds)
                JOB_DOCUMENTS.labels("retried").inc()
        else:
            await self._finish(
                claimed,
                _STATE[result.status],
                document_id=result.document_id,
                chunks=result.chunk_count,
                duplicate_of=result.duplicate_of,
                similarity=result.similarity,
                reason=result.reason,
            )

    async def _fetch(self, claimed: Claimed, url: str) -> "_FetchedInput":
        """The URL's page as an ingest input, or that it is unchanged since the last fetch."""
        if self._fetcher is None:
            raise Unavailable("the workers are stopping")
        known = await self._ingestor.sources.get(claimed.tenant, url)
        request = dict(claimed.request)
        document_id = str(request.get("documentId", "")) or (
            known.document_id if known else url_document_id(claimed.tenant, url)
        )
        page = await self._fetcher.fetch(url, *((known.etag, known.last_modified) if known else ("", "")))
        if not page.changed:
            await self._ingestor.sources.fetched(
                claimed.tenant, url, document_id, known.etag if known else "", known.last_modified if known else "",
                request,
            )  # fmt: skip
            return _FetchedInput(False, document_id)
        metadata = dict(request.get("metadata", {}))  # type: ignore[arg-type]
        metadata.setdefault("source", url)
        request.update(documentId=document_id, contentType=page.content_type, metadata=metadata)
        name = urlsplit(page.url).path.rsplit("/", 1)[-1] or urlsplit(page.url).hostname or url
        item = job_input(claimed.tenant, name[:200], page.content, request)
        return _FetchedInput(True, document_id, item, page.etag, page.last_modified)

    async def _finish(self, claimed: Claimed, state: str, **outcome: object) -> None:
        await self._queue.finish(claimed.id, state, **outcome)  # type: ignore[arg-type]
        JOB_DOCUMENTS.labels(state).inc()
        # Its bytes live on as the document's raw artifact (or, quarantined, are not kept).
        if claimed.artifact_key:
            with contextlib.suppress(Exception):
                await self._store.delete(claimed.artifact_key)

    async def _renew(self, item_id: int) -> None:
        while True:
            await asyncio.sleep(self._settings.job_lease_seconds / 3)
            try:
                await self._queue.progress(item_id)
            except LeaseLost:
                return
            except Exception:
                log.exception("could not renew the claim on job document %s", item_id)
