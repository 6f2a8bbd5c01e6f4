"""/v1/documents: add, list, inspect and delete the tenant's documents."""

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, Response, UploadFile
from google.protobuf import json_format

from ragmesh.ingest.v1 import ingest_pb2
from services.gateway.deps import ClientsDep, IngestCaller, QueryCaller, SettingsDep, UploadCaller
from services.gateway.models import (
    DeleteResponse,
    Document,
    DocumentAccess,
    DocumentList,
    DocumentMetadata,
    DocumentText,
    IngestResponse,
    TextSection,
)
from services.gateway.routes import problems

# Every operation may answer 400 (unreadable body), 401 (credentials), 403 (scope, tenant) and 422 (input).
router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=problems(400, 401, 403, 422))
# Offsets travel as uint32 to the ingest service; anything larger is a 422 here, not an overflow there.
MAX_OFFSET = 2**32 - 1
_STATUS = {
    ingest_pb2.INGEST_STATUS_CREATED: "created",
    ingest_pb2.INGEST_STATUS_UPDATED: "updated",
    ingest_pb2.INGEST_STATUS_UNCHANGED: "unchanged",
    ingest_pb2.INGEST_STATUS_DUPLICATE: "duplicate",
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
    response_model=IngestResponse,
    # duplicate_of and similarity only when the document is a duplicate.
    response_model_exclude_none=True,
    status_code=201,
    responses={
        200: {"model": IngestResponse, "description": "Updated, or unchanged (the same content was already indexed)."},
        **problems(413, 415, 429),
    },
)
async def add_document(
    request: Request,
    response: Response,
    caller: UploadCaller,
    clients: ClientsDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="Plain text, Markdown, HTML or PDF.")],
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
) -> IngestResponse:
    """Add a document: it is extracted, chunked, embedded and indexed before this returns."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > settings.max_upload_bytes + 64 * 1024:
        raise HTTPException(413, f"the upload is {declared} bytes; the limit is {settings.max_upload_bytes}")
    content = await file.read(settings.max_upload_bytes + 1)
    if len(content) > settings.max_upload_bytes:
        raise HTTPException(413, f"the file is larger than the limit of {settings.max_upload_bytes} bytes")
    try:
        declared_attributes = json.loads(attributes) if attributes.strip() else {}
    except json.JSONDecodeError as exc:
        raise HTTPException(422, f"attributes is not valid JSON: {exc.msg} at character {exc.pos}") from exc
    if not isinstance(declared_attributes, dict):
        raise HTTPException(422, "attributes must be a JSON object of field name to value")
    metadata = ingest_pb2.DocumentMetadata(
        title=title,
        source=source,
        tags=_names(tags),
        licence=licence,
        allowed_users=_names(allowed_users),
        allowed_groups=_names(allowed_groups),
    )
    try:
        metadata.attributes.update(declared_attributes)
    except (ValueError, TypeError) as exc:
        raise HTTPException(422, f"attributes holds a value that is not JSON data: {exc}") from exc
    reply = await clients.ingest.IngestDocument(
        ingest_pb2.IngestDocumentRequest(
            tenant=caller.tenant,
            filename=file.filename or "",
            content_type=file.content_type or "",
            content=content,
            metadata=metadata,
            document_id=document_id,
        ),
        timeout=settings.ingest_timeout_seconds,
    )
    status = _STATUS[reply.status]
    if status != "created":
        response.status_code = 200
    duplicate = (
        {"duplicate_of": reply.duplicate_of, "similarity": round(reply.similarity, 4)} if reply.duplicate_of else {}
    )
    return IngestResponse(document_id=reply.document_id, chunk_count=reply.chunk_count, status=status, **duplicate)


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
        ingest_pb2.DeleteDocumentRequest(tenant=caller.tenant, document_id=document_id, viewer=caller.viewer_message()),
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
        ),
        timeout=60,
    )
    return _document(reply)
