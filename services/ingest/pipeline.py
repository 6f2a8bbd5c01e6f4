"""The ingest pipeline: validate, extract, chunk, embed, index, record. All or nothing per document."""

import asyncio
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ragmesh.retriever.v1 import retriever_pb2
from services.ingest import duplicates, injection, review
from services.ingest.announcements import ChangeAnnouncer
from services.ingest.artifacts import RawArtifacts
from services.ingest.catalog import Catalog, DocumentRecord, now, stamp
from services.ingest.chunking import chunk_document, embedding_texts, index_chunks
from services.ingest.config import IngestSettings
from services.ingest.downstream import Downstream
from services.ingest.extract import Extracted, resolve_type
from services.ingest.inputs import (
    IngestInput,
    IngestResult,
    access_names,
    check_governance,
    derived_document_id,
    validate_input,
)
from services.ingest.jobs import JobQueue
from services.ingest.legacy import import_legacy
from services.ingest.metrics import DOCUMENTS, IN_PROGRESS
from services.ingest.quarantine import Quarantine
from services.ingest.records.database import Database
from services.ingest.sandbox import Sandbox
from services.ingest.schema import check_attributes
from services.ingest.sniffing import real_type
from services.ingest.sources import Sources
from services.ingest.upkeep import Upkeep
from services.ingest.writes import DELETING, DocumentWrites
from services.records.objects import open_store
from services.runtime.access import Viewer
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.runtime.telemetry import step

log = logging.getLogger(__name__)

STARTING = "the ingest service is starting; try again shortly"
# The lease that serialises writers of one text (ids never start with "#").
SAME_TEXT = "#text:"
_Part = TypeVar("_Part")
# Told each stage of an ingest as it starts.
Progress = Callable[[str], Awaitable[None]]


async def _silent(stage: str) -> None:
    return None


def _started(part: _Part | None) -> _Part:
    """A part made at warm-up; Unavailable (try again) before it is."""
    if part is None:
        raise Unavailable(STARTING)
    return part


class Ingestor:
    """Owns the catalogue and drives the embedder and retriever for each document."""

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings
        self._database: Database | None = None
        self._catalog: Catalog | None = None
        self._quarantine: Quarantine | None = None
        self._writes: DocumentWrites | None = None
        self._jobs: JobQueue | None = None
        self._sources: Sources | None = None
        self._downstream: Downstream | None = None
        self._upkeep: Upkeep | None = None
        self._sandbox: Sandbox | None = None
        self.store = open_store(
            settings.object_store_url,
            settings.data_dir,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            versioning=settings.object_versioning,
        )
        self._artifacts = RawArtifacts(self.store)
        # What the chunks of a document depend on besides its bytes: recorded with each raw artifact.
        self.config_version = hashlib.sha256(
            json.dumps([settings.chunk_max_chars, settings.near_duplicate_threshold]).encode()
        ).hexdigest()[:12]
        # Names this replica's write leases: unique per process, readable in the table.
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @property
    def catalog(self) -> Catalog:
        return _started(self._catalog)

    @property
    def quarantine(self) -> Quarantine:
        return _started(self._quarantine)

    @property
    def jobs(self) -> JobQueue:
        return _started(self._jobs)

    @property
    def sources(self) -> Sources:
        return _started(self._sources)

    @property
    def writes(self) -> DocumentWrites:
        return _started(self._writes)

    async def warm_up(self) -> None:
        s = self._settings
        self._database = Database(s.database_url or f"sqlite:///{s.data_dir}/ingest.db", s.database_pool_size)
        await self._database.migrate()
        await import_legacy(s.data_dir, self._database)
        await self.store.start()
        self._catalog = Catalog(self._database, ChangeAnnouncer(s.redis_url, s.redis_password, s.redis_timeout_seconds))
        self._quarantine = Quarantine(self._database)
        self._writes = DocumentWrites(self._database, self.holder, s.write_lease_seconds, s.write_wait_seconds)
        self._jobs = JobQueue(self._database, self.holder, s.job_lease_seconds)
        self._sources = Sources(self._database, s.recrawl_hours)
        await self._quarantine.count()
        self._sandbox = Sandbox(
            s.extract_workers, s.extract_timeout_seconds, s.extract_memory_mb, s.max_pages, s.max_extracted_chars
        )
        self._downstream = Downstream(s)
        self._upkeep = Upkeep(
            s, self._catalog, self._quarantine, self._jobs, self._writes, self._artifacts, self._downstream
        )
        self._upkeep.start()

    @property
    def downstream(self) -> Downstream:
        return _started(self._downstream)

    @property
    def upkeep(self) -> Upkeep:
        return _started(self._upkeep)

    async def close(self) -> None:
        if self._upkeep is not None:
            self._upkeep.stop()
        if self._downstream is not None:
            await self._downstream.close()
        if self._catalog is not None:
            await self._catalog.announcer.close()
        if self._database is not None:
            await self._database.close()
        if self._sandbox is not None:
            await asyncio.to_thread(self._sandbox.close)
        self.store.close()

    async def _extract(self, content: bytes, content_type: str, title: str) -> Extracted:
        return await _started(self._sandbox).extract(content, content_type, title)

    async def ingest(self, item: IngestInput, progress: Progress | None = None) -> IngestResult:
        """Validate, extract, chunk, embed and index one document (or quarantine it with the reason). `progress` is
        told each stage as it starts ("extracting", "embedding")."""
        with (
            IN_PROGRESS.track_inprogress(),
            step("ingest", "ingest_document", tenant=item.tenant, size_bytes=len(item.content)) as span,
        ):
            try:
                result = await self._ingest(item, progress or _silent)
            except InvalidArgument:
                DOCUMENTS.labels("quarantined").inc()
                raise
            except BaseException:
                DOCUMENTS.labels("failed").inc()
                raise
            DOCUMENTS.labels(result.status).inc()
            span.set_attributes({"document.id": result.document_id, "document.status": result.status})
            return result

    async def _ingest(self, item: IngestInput, progress: Progress) -> IngestResult:
        content_type = resolve_type(item.content_type, item.filename)
        try:
            with step("ingest", "validate"):
                validate_input(item, self._settings.max_document_bytes)
                check_governance(
                    item, self._settings.excluded_licences, self._settings.honour_noai, self._settings.required_uses
                )
                attributes = check_attributes((await self.catalog.schema(item.tenant))[0], item.attributes)
                content_type = real_type(item.content, content_type)
            await progress("extracting")
            with step("ingest", "extract", content_type=content_type):
                document = await self._extract(item.content, content_type, item.title)
        except InvalidArgument as exc:
            if item.tenant:
                await self.quarantine.add(item.tenant, item.filename, content_type, len(item.content), str(exc))
            raise
        text = document.text
        content_hash = hashlib.sha256(text.encode()).hexdigest()
        document_id = item.document_id or derived_document_id(item.tenant, content_hash)
        title = item.title or document.title or item.filename
        tags = sorted({tag.strip() for tag in item.tags})
        users, groups = access_names(item.allowed_users, item.allowed_groups)
        if self._settings.injection_check and not item.released:
            verdict = injection.inspect(text, document.invisible_removed)
            if verdict.flagged:
                return await review.hold(self, item, document_id, content_type, verdict.reason)
        # Two writers of the same text (under two ids, e.g. two workers of one job) take turns, so that the second
        # finds the first and is recorded as its duplicate instead of both being indexed.
        async with (
            self.writes.hold(item.tenant, f"{SAME_TEXT}{content_hash}"),
            self.writes.hold(item.tenant, document_id) as stale,
        ):
            if stale is not None:
                await self.upkeep.settle(stale)
            existing = await self.catalog.get(item.tenant, document_id)
            uses = sorted({use.strip().lower() for use in item.allowed_uses})
            metadata = (title, item.source, tags, item.licence, item.filename, content_type, attributes, uses)
            if (
                existing
                and existing.content_hash == content_hash
                and metadata
                == (
                    existing.title,
                    existing.source,
                    existing.tags,
                    existing.licence,
                    existing.filename,
                    existing.content_type,
                    existing.attributes,
                    existing.allowed_uses,
                )
            ):
                if (existing.allowed_users, existing.allowed_groups) == (users, groups):
                    return IngestResult(document_id, existing.chunk_count, "unchanged")
                # Only who may see it changed: the chunks stay, their access lists change.
                await self._apply_access(existing, users, groups, item.actor)
                return IngestResult(document_id, existing.chunk_count, "updated")
            threshold = self._settings.near_duplicate_threshold
            shingled = duplicates.fingerprint(text, threshold) if threshold else None
            changed = not existing or existing.content_hash != content_hash
            if changed and (
                found := await duplicates.original_of(
                    self.catalog, threshold, item.tenant, document_id, content_hash, shingled, users, groups
                )
            ):
                original, similarity = found
                detail = {"document_id": document_id, "filename": item.filename, "similarity": similarity}
                await self.catalog.record(item.tenant, original, "duplicate-not-indexed", detail)
                return IngestResult(document_id, 0, "duplicate", original, similarity)
            drafts = chunk_document(document, self._settings.chunk_max_chars)
            fingerprint = json.dumps(metadata, sort_keys=True, default=str)
            revision = content_hash[:16] + hashlib.sha256(fingerprint.encode()).hexdigest()[:8]
            base = retriever_pb2.Chunk(
                document_id=document_id,
                title=title,
                source=item.source,
                tags=tags,
                licence=item.licence,
                content_type=content_type,
                revision=revision,
                allowed_users=users,
                allowed_groups=groups,
            )
            base.attributes.update(attributes)
            # Named before any chunk is written: if this replica dies from here on, whoever takes the lease over
            # knows which chunks to remove.
            await self.writes.begin(item.tenant, document_id, revision)
            await progress("embedding")
            try:
                texts = embedding_texts(drafts, title, self._settings.sentence_vectors)
                vectors = await self.downstream.embed(texts)
                chunks = index_chunks(base, drafts, vectors, item.tenant, revision)
                await self.downstream.upsert(item.tenant, chunks)
            except BaseException:
                # Leave nothing of the new revision behind; the previous one, if any, stays whole. Its chunks may
                # have been searchable for a moment: the corpus version moves, so nothing cached from them lives on.
                await self.downstream.discard(item.tenant, document_id, revision)
                await self.catalog.record(item.tenant, document_id, "ingest-discarded", {"revision": revision})
                raise
            await self._artifacts.write(
                item.tenant,
                document_id,
                revision,
                item.content,
                {
                    "name": item.filename,
                    "source": item.source,
                    "licence": item.licence,
                    "allowed-uses": ",".join(uses),
                    "content-type": content_type,
                    "size-bytes": str(len(item.content)),
                    "sha256": hashlib.sha256(item.content).hexdigest(),
                    "text-sha256": content_hash,
                    "revision": revision,
                    "stored-at": stamp(now()),
                    "config-version": self.config_version,
                },
            )
            record = DocumentRecord(
                tenant=item.tenant,
                document_id=document_id,
                filename=item.filename,
                content_type=content_type,
                title=title,
                source=item.source,
                tags=tags,
                licence=item.licence,
                chunk_count=len(chunks),
                size_bytes=len(item.content),
                content_hash=content_hash,
                attributes=attributes,
                allowed_users=users,
                allowed_groups=groups,
                allowed_uses=uses,
                revision=revision,
            )
            status = "updated" if existing else "created"
            detail = {"chunks": len(chunks), "revision": revision, "licence": item.licence, "allowed_uses": uses}
            if document.invisible_removed:
                # Text hidden from a reviewer (zero-width, bidirectional overrides) was there: worth a look.
                detail["invisible_characters_removed"] = document.invisible_removed
            # The switch: from this commit on the catalogue names the new revision (and the lease says so, so that
            # a crash before the next step is settled by removing the old chunks, not the new).
            await self.catalog.save(record, status, detail, shingled, holder=self.holder, actor=item.actor)
            # The new revision is live: drop the chunks of the previous one (a new document has none).
            if existing is not None:
                await self.downstream.delete_chunks(item.tenant, document_id, keep_revision=revision)
                if existing.revision != revision:
                    await self._artifacts.delete(item.tenant, document_id, existing.revision)
            return IngestResult(document_id, len(chunks), status)

    async def delete(self, tenant: str, document_id: str, viewer: Viewer, actor: str = "") -> int:
        async with self.writes.hold(tenant, document_id) as stale:
            if stale is not None:
                await self.upkeep.settle(stale)
            existing = await self.get(tenant, document_id, viewer)
            # A delete that dies half-way is finished by whoever takes the lease over.
            await self.writes.begin(tenant, document_id, DELETING)
            await self.downstream.delete_chunks(tenant, document_id)
            await self.catalog.delete(tenant, document_id, {"chunks": existing.chunk_count}, actor=actor)
            await self._artifacts.delete(tenant, document_id, existing.revision)
            return existing.chunk_count

    async def get(self, tenant: str, document_id: str, viewer: Viewer) -> DocumentRecord:
        """The record, when it exists and the viewer may see it; NotFound either way (a restricted document's
        existence is not revealed)."""
        record = await self.catalog.get(tenant, document_id)
        if record is None or not viewer.can_see(record.allowed_users, record.allowed_groups):
            raise NotFound(f"document {document_id!r} not found")
        return record

    async def set_access(
        self,
        tenant: str,
        document_id: str,
        viewer: Viewer,
        allowed_users: list[str],
        allowed_groups: list[str],
        actor: str = "",
    ) -> DocumentRecord:
        """Change who may see a document: every chunk's access list first, then the catalogue (a failure in
        between is repaired by repeating the call)."""
        users, groups = access_names(allowed_users, allowed_groups)
        async with self.writes.hold(tenant, document_id) as stale:
            if stale is not None:
                await self.upkeep.settle(stale)
            record = await self.get(tenant, document_id, viewer)
            return await self._apply_access(record, users, groups, actor)

    async def _apply_access(
        self, record: DocumentRecord, users: list[str], groups: list[str], actor: str
    ) -> DocumentRecord:
        await self.downstream.set_access(record.tenant, record.document_id, users, groups)
        detail = {"allowed_users": users, "allowed_groups": groups}
        record.allowed_users, record.allowed_groups = users, groups
        await self.catalog.save(record, "access-changed", detail, actor=actor)
        return record

    async def extracted(self, tenant: str, document_id: str, viewer: Viewer) -> tuple[DocumentRecord, Extracted]:
        """The document's extracted text, rebuilt from its raw artifact, exactly as it was when chunked: its
        sha256 must equal the recorded content hash, so every stored offset still points at the same words."""
        record = await self.get(tenant, document_id, viewer)
        try:
            content = await self._artifacts.read(tenant, document_id, record.revision)
        except FileNotFoundError:
            raise FailedPrecondition(
                f"the raw artifact of document {document_id!r} is missing; ingest the document again"
            ) from None
        # Who read a document's raw bytes is audited (a read: the corpus version does not move).
        await self.catalog.record(tenant, document_id, "raw-read", {"size_bytes": len(content)}, actor=viewer.user)
        document = await self._extract(content, record.content_type, record.title)
        if hashlib.sha256(document.text.encode()).hexdigest() != record.content_hash:
            raise FailedPrecondition(
                f"document {document_id!r} no longer extracts to the text it was indexed from (the extractor "
                "changed since it was ingested); ingest it again to refresh its chunks and offsets"
            )
        return record, document
