"""/v1/documents: add, list, inspect and delete the tenant's documents."""

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, Response, UploadFile
from google.protobuf import json_format

from ragmesh.ingest.v1 import ingest_pb2
from services.gateway.audit import actor
from services.gateway.deps import ClientsDep, IngestCaller, QueryCaller, SettingsDep, UploadCaller
from services.gateway.document_models import (
    DeleteResponse,
    Document,
    DocumentAccess,
    DocumentList,
    DocumentMetadata,
    DocumentText,
    IngestResponse,
    Job,
    TextSection,
)
from services.gateway.routes import problems
from services.gateway.routes.jobs import job_of, manifest_entries, metadata_message

# Every operation may answer 400 (unreadable body), 401 (credentials), 403 (scope, tenant) and 422 (input).
router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=problems(400, 401, 403, 422))
# Offsets travel as uint32 to the ingest service; anything larger is a 422 here, not an overflow there.
MAX_OFFSET = 2**32 - 1
_STATUS = {
    ingest_pb2.INGEST_STATUS_CREATED: "created",
    ingest_pb2.INGEST_STATUS_UPDATED: "updated",
    ingest_pb2.INGEST_STATUS_UNCHANGED: "unchanged",
    ingest_pb2.INGEST_STATUS_DUPLICATE: "duplicate",
    ingest_pb2.INGEST_STATUS_HELD: "held",
}


def _document(doc: ingest_pb2.Document) -> Document:
    return Document(
        document_id=doc.document_id,
        filename=doc.filename,
        content_type=doc.content_type,
        metadata=DocumentMetadata(
            title=doc.metadata.title,
            source=doc.metadata.source,
            tags=list(doc.metadata.tags),
            licence=doc.metadata.licence,
            attributes=json_format.MessageToDict(doc.metadata.attributes),
            allowed_users=list(doc.metadata.allowed_users),
            allowed_groups=list(doc.metadata.allowed_groups),
            allowed_uses=list(doc.metadata.allowed_uses),
        ),
        chunk_count=doc.chunk_count,
        size_bytes=doc.size_bytes,
        content_hash=doc.content_hash,
        created_at=doc.created_at,
        updated_at=doc.updated_at,
    )


def _names(listed: str) -> list[str]:
    return [name.strip() for name in listed.split(",") if name.strip()]


@router.post(
    "",
    response_model=IngestResponse | Job,
    # duplicate_of and similarity only when the document is a duplicate.
    response_model_exclude_none=True,
    status_code=201,
    responses={
        200: {"model": IngestResponse, "description": "Updated, or unchanged (the same content was already indexed)."},
        202: {
            "model": Job,
            "description": "Several files, a manifest or `batch`: queued as a job; follow it. (One file held as a "
            "likely prompt injection answers 202 with status `held` and the reason.)",
        },
        **problems(413, 415, 429),
    },
)
async def add_document(
    request: Request,
    response: Response,
    caller: UploadCaller,
    clients: ClientsDep,
    settings: SettingsDep,
    file: Annotated[
        list[UploadFile], File(description="Plain text, Markdown, HTML or PDF; repeat the part for several files.")
    ] = [],  # noqa: B006 (FastAPI copies defaults)
    title: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = "",
    tags: Annotated[str, Form(description="Comma-separated.")] = "",
    licence: Annotated[str, Form()] = "",
    document_id: Annotated[str, Form(description="Your id for the document; re-sending it replaces it.")] = "",
    attributes: Annotated[
        str, Form(description='JSON object of declared metadata, e.g. {"year": 2019, "authors": ["Jane Smith"]}.')
    ] = "",
    allowed_users: Annotated[
        str, Form(description="Comma-separated users who may see the document; with allowed_groups empty too: all.")
    ] = "",
    allowed_groups: Annotated[str, Form(description="Comma-separated groups whose members may see it.")] = "",
    allowed_uses: Annotated[
        str, Form(description="Comma-separated uses its licence allows (e.g. rag,search); kept with the document.")
    ] = "",
    manifest: Annotated[
        str,
        Form(
            description='JSON array, one object per file: {"file": "<its name>", "document_id", "title", "source", '
            '"tags", "licence", "attributes", "allowed_users", "allowed_groups", "allowed_uses"}; it overrides the '
            "fields above."
        ),
    ] = "",
    batch: Annotated[bool, Form(description="Queue as a job even for one file.")] = False,
    urls: Annotated[
        str,
        Form(
            description="http(s) URLs to fetch, one per line (or comma-separated): queued as a job, fetched politely "
            "(robots.txt, per-host pace) and fetched again on the recrawl schedule."
        ),
    ] = "",
) -> IngestResponse | Job:
    """Add documents. One file is extracted, chunked, embedded and indexed before this returns. Several files (or
    a manifest, or `batch`) are stored and queued as one job at once (202): follow it at `status_url`."""
    addresses = [url.strip() for url in urls.replace(",", "\n").splitlines() if url.strip()]
    if not file and not addresses:
        raise HTTPException(422, "send at least one file, or urls to fetch")
    many = len(file) > 1 or bool(manifest.strip()) or batch or bool(addresses)
    limit = settings.max_batch_bytes if many else settings.max_upload_bytes
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit + 64 * 1024:
        raise HTTPException(413, f"the upload is {declared} bytes; the limit is {limit}")
    contents = []
    for upload in file:
        content = await upload.read(settings.max_upload_bytes + 1)
        if len(content) > settings.max_upload_bytes:
            raise HTTPException(
                413, f"{upload.filename!r} is larger than the limit of {settings.max_upload_bytes} bytes"
            )
        contents.append(content)
    if sum(map(len, contents)) > limit:
        raise HTTPException(413, f"the files add up to more than the limit of {limit} bytes")
    try:
        declared_attributes = json.loads(attributes) if attributes.strip() else {}
    except json.JSONDecodeError as exc:
        raise HTTPException(422, f"attributes is not valid JSON: {exc.msg} at character {exc.pos}") from exc
    if not isinstance(declared_attributes, dict):
        raise HTTPException(422, "attributes must be a JSON object of field name to value")
    shared = {
        "title": title,
        "source": source,
        "tags": _names(tags),
        "licence": licence,
        "attributes": declared_attributes,
        "allowed_users": _names(allowed_users),
        "allowed_groups": _names(allowed_groups),
        "allowed_uses": _names(allowed_uses),
    }
    if many:
        if document_id and len(file) + len(addresses) > 1:
            raise HTTPException(422, "document_id names one document: give each file its own in the manifest")
        entries = manifest_entries(manifest, file, addresses)
        documents = [
            ingest_pb2.JobDocument(
                filename=upload.filename or "",
                content_type=upload.content_type or "",
                content=content,
                metadata=metadata_message({**shared, **entry}),
                document_id=str(entry.get("document_id", "") or document_id),
            )
            for upload, content, entry in zip(file, contents, entries, strict=False)
        ] + [
            ingest_pb2.JobDocument(
                url=url,
                metadata=metadata_message({**shared, **entry}),
                document_id=str(entry.get("document_id", "") or document_id),
            )
            for url, entry in zip(addresses, entries[len(file) :], strict=True)
        ]
        reply = await clients.ingest.SubmitJob(
            ingest_pb2.SubmitJobRequest(
                tenant=caller.tenant,
                documents=documents,
                submitted_by=actor(caller),
            ),
            timeout=settings.ingest_timeout_seconds,
        )
        response.status_code = 202
        response.headers["Location"] = f"/v1/jobs/{reply.job_id}"
        return job_of(reply)
    reply = await clients.ingest.IngestDocument(
        ingest_pb2.IngestDocumentRequest(
            tenant=caller.tenant,
            filename=file[0].filename or "",
            content_type=file[0].content_type or "",
            content=contents[0],
            metadata=metadata_message(shared),
            document_id=document_id,
            actor=actor(caller),
        ),
        timeout=settings.ingest_timeout_seconds,
    )
    answer = ingest_response(reply)
    # Held (a likely prompt injection): accepted, not indexed, waiting for an administrator.
    response.status_code = {"created": 201, "held": 202}.get(answer.status, 200)
    return answer


def ingest_response(reply: ingest_pb2.IngestDocumentResponse) -> IngestResponse:
    """The public answer for one ingested document."""
    duplicate = (
        {"duplicate_of": reply.duplicate_of, "similarity": round(reply.similarity, 4)} if reply.duplicate_of else {}
    )
    held = {"reason": reply.reason} if reply.reason else {}
    return IngestResponse(
        document_id=reply.document_id,
        chunk_count=reply.chunk_count,
        status=_STATUS[reply.status],
        **duplicate,
        **held,
    )


@router.get("", response_model=DocumentList, responses=problems(401))
async def list_documents(
    caller: QueryCaller,
    clients: ClientsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DocumentList:
    """The tenant's documents, oldest first."""
    reply = await clients.ingest.ListDocuments(
        ingest_pb2.ListDocumentsRequest(
            tenant=caller.tenant, limit=limit, offset=offset, viewer=caller.viewer_message()
        ),
        timeout=10,
    )
    return DocumentList(documents=[_document(d) for d in reply.documents], total=reply.total)


@router.get(
    "/{document_id}",
    response_model=Document,
    responses=problems(401, 403, 404),
)
async def get_document(document_id: str, caller: QueryCaller, clients: ClientsDep) -> Document:
    """One document's record."""
    reply = await clients.ingest.GetDocument(
        ingest_pb2.GetDocumentRequest(tenant=caller.tenant, document_id=document_id, viewer=caller.viewer_message()),
        timeout=10,
    )
    return _document(reply)


@router.get(
    "/{document_id}/text",
    response_model=DocumentText,
    responses=problems(404, 409),
)
async def get_document_text(
    document_id: str,
    caller: QueryCaller,
    clients: ClientsDep,
    char_start: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Start of the slice (a quote's char_start).")
    ] = 0,
    char_end: Annotated[
        int | None, Query(ge=1, le=MAX_OFFSET, description="End of the slice, exclusive; the end by default.")
    ] = None,
) -> DocumentText:
    """The document's extracted text, or a slice of it: `text[char_start:char_end]` of the whole text is exactly
    what a citation or quote with those offsets showed."""
    if char_end is not None and char_end < char_start:
        raise HTTPException(422, f"char_end ({char_end}) must not be before char_start ({char_start})")
    reply = await clients.ingest.GetDocumentText(
        ingest_pb2.GetDocumentTextRequest(
            tenant=caller.tenant,
            document_id=document_id,
            char_start=char_start,
            char_end=char_end or 0,
            viewer=caller.viewer_message(),
        ),
        timeout=30,
    )
    return DocumentText(
        document_id=reply.document_id,
        text=reply.text,
        char_start=reply.char_start,
        char_end=reply.char_end,
        total_chars=reply.total_chars,
        content_hash=reply.content_hash,
        sections=[
            TextSection(heading_path=list(x.heading_path), char_start=x.char_start, char_end=x.char_end)
            for x in reply.sections
        ],
    )


@router.delete(
    "/{document_id}",
    response_model=DeleteResponse,
    responses=problems(401, 403, 404),
)
async def delete_document(document_id: str, caller: IngestCaller, clients: ClientsDep) -> DeleteResponse:
    """Delete a document and every chunk of it."""
    reply = await clients.ingest.DeleteDocument(
        ingest_pb2.DeleteDocumentRequest(
            tenant=caller.tenant, document_id=document_id, viewer=caller.viewer_message(), actor=actor(caller)
        ),
        timeout=60,
    )
    return DeleteResponse(document_id=document_id, chunks_deleted=reply.chunks_deleted)


@router.put("/{document_id}/access", response_model=Document, responses=problems(401, 403, 404, 422))
async def set_access(document_id: str, body: DocumentAccess, caller: IngestCaller, clients: ClientsDep) -> Document:
    """Change who may see the document inside the tenant (both lists empty: the whole tenant). Its chunks are
    not re-indexed; cached answers are invalidated."""
    reply = await clients.ingest.SetDocumentAccess(
        ingest_pb2.SetDocumentAccessRequest(
            tenant=caller.tenant,
            document_id=document_id,
            viewer=caller.viewer_message(),
            allowed_users=body.allowed_users,
            allowed_groups=body.allowed_groups,
            actor=actor(caller),
        ),
        timeout=60,
    )
    return _document(reply)
