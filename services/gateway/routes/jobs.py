"""/v1/jobs: follow a batch of documents queued by `POST /v1/documents` (several files, or a manifest)."""

import json

from fastapi import APIRouter, HTTPException, UploadFile
from google.protobuf import json_format

from ragmesh.ingest.v1 import ingest_pb2
from services.gateway.deps import ClientsDep, IngestCaller
from services.gateway.document_models import Job, JobItem
from services.gateway.routes import problems

router = APIRouter(prefix="/v1/jobs", tags=["documents"], responses=problems(400, 401, 403, 422))
# What a manifest entry may set for its file (the form's fields set them for every file).
MANIFEST_FIELDS = {"file", "url", "document_id", "title", "source", "tags", "licence", "attributes", "allowed_users",
                   "allowed_groups", "allowed_uses"}  # fmt: skip


def job_of(reply: ingest_pb2.Job) -> Job:
    return Job(
        job_id=reply.job_id,
        status_url=f"/v1/jobs/{reply.job_id}",
        created_at=reply.created_at,
        submitted_by=reply.submitted_by,
        total=reply.total,
        finished=reply.finished,
        done=reply.done,
        counts=dict(reply.counts),
        items=[
            JobItem(
                position=item.position,
                name=item.name,
                state=item.state,  # type: ignore[arg-type]
                reason=item.reason,
                document_id=item.document_id,
                chunk_count=item.chunk_count,
                duplicate_of=item.duplicate_of,
                similarity=round(item.similarity, 4),
                attempts=item.attempts,
                updated_at=item.updated_at,
            )
            for item in reply.items
        ],
    )


def manifest_entries(manifest: str, files: list[UploadFile], urls: list[str]) -> list[dict[str, object]]:
    """One entry per uploaded file then per URL, in order: the manifest's entry naming it ("file" or "url"), else an
    empty one. 422 for a manifest that is not a JSON array of objects, names a file not uploaded (or a URL not in
    `urls`), or sets a field it may not."""
    if not manifest.strip():
        return [{} for _ in [*files, *urls]]
    try:
        entries = json.loads(manifest)
    except json.JSONDecodeError as exc:
        raise HTTPException(422, f"manifest is not valid JSON: {exc.msg} at character {exc.pos}") from exc
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise HTTPException(422, 'manifest must be a JSON array of objects, e.g. [{"file": "a.md", "title": "A"}]')
    by_file: dict[str, dict[str, object]] = {}
    by_url: dict[str, dict[str, object]] = {}
    for entry in entries:
        unknown = set(entry) - MANIFEST_FIELDS
        if unknown:
            named = entry.get("file") or entry.get("url")
            raise HTTPException(422, f"manifest entry for {named!r}: unknown fields {sorted(unknown)}")
        if entry.get("url"):
            by_url[str(entry["url"])] = entry
        else:
            by_file[str(entry.get("file", ""))] = entry
    missing = sorted(set(by_file) - {file.filename or "" for file in files})
    if missing:
        raise HTTPException(422, f"the manifest names files that were not uploaded: {missing}")
    extra = sorted(set(by_url) - set(urls))
    if extra:
        raise HTTPException(422, f"the manifest names URLs that are not in urls: {extra}")
    return [by_file.get(file.filename or "", {}) for file in files] + [by_url.get(url, {}) for url in urls]


@router.get("/{job_id}", response_model=Job, responses=problems(404))
async def get_job(job_id: str, caller: IngestCaller, clients: ClientsDep) -> Job:
    """A job's progress, and each document's state with the reason of any that did not go in."""
    reply = await clients.ingest.GetJob(ingest_pb2.GetJobRequest(tenant=caller.tenant, job_id=job_id), timeout=10)
    return job_of(reply)


def metadata_message(fields: dict[str, object]) -> ingest_pb2.DocumentMetadata:
    """DocumentMetadata from a document's fields (the form's, overlaid with its manifest entry); 422 when a value
    is of the wrong kind."""
    try:
        message = ingest_pb2.DocumentMetadata()
        json_format.ParseDict(
            {
                k: v
                for k, v in fields.items()
                if k not in ("file", "url", "document_id") and v not in ("", [], {}, None)
            },
            message,
        )
    except json_format.ParseError as exc:
        raise HTTPException(422, f"document metadata: {exc}") from exc
    return message
