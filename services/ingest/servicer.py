"""gRPC adapter from IngestService messages to the Ingestor."""

import grpc

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.catalog import DocumentRecord
from services.ingest.pipeline import IngestInput, Ingestor
from services.runtime.errors import InvalidArgument

_STATUS = {
    "created": ingest_pb2.INGEST_STATUS_CREATED,
    "updated": ingest_pb2.INGEST_STATUS_UPDATED,
    "unchanged": ingest_pb2.INGEST_STATUS_UNCHANGED,
}
MAX_PAGE = 500


def _document(record: DocumentRecord) -> ingest_pb2.Document:
    return ingest_pb2.Document(
        document_id=record.document_id,
        filename=record.filename,
        content_type=record.content_type,
        metadata=ingest_pb2.DocumentMetadata(
            title=record.title, source=record.source, tags=record.tags, licence=record.licence
        ),
        chunk_count=record.chunk_count,
        size_bytes=record.size_bytes,
        content_hash=record.content_hash,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _scope(tenant: str, document_id: str | None = None) -> None:
    if not tenant:
        raise InvalidArgument("tenant is required")
    if document_id is not None and not document_id:
        raise InvalidArgument("document_id is required")


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    """Thin: every rule lives in the Ingestor."""

    def __init__(self, ingestor: Ingestor) -> None:
        self._ingestor = ingestor

    async def IngestDocument(
        self, request: ingest_pb2.IngestDocumentRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.IngestDocumentResponse:
        result = await self._ingestor.ingest(
            IngestInput(
                tenant=request.tenant,
                filename=request.filename,
                content_type=request.content_type,
                content=request.content,
                title=request.metadata.title,
                source=request.metadata.source,
                tags=list(request.metadata.tags),
                licence=request.metadata.licence,
                document_id=request.document_id,
            )
        )
        return ingest_pb2.IngestDocumentResponse(
            document_id=result.document_id, chunk_count=result.chunk_count, status=_STATUS[result.status]
        )

    async def GetDocument(
        self, request: ingest_pb2.GetDocumentRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.Document:
        _scope(request.tenant, request.document_id)
        return _document(self._ingestor.get(request.tenant, request.document_id))

    async def ListDocuments(
        self, request: ingest_pb2.ListDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.ListDocumentsResponse:
        _scope(request.tenant)
        limit = request.limit or 50
        if limit > MAX_PAGE:
            raise InvalidArgument(f"limit must be at most {MAX_PAGE}")
        records, total = self._ingestor.catalog.page(request.tenant, limit, request.offset)
        return ingest_pb2.ListDocumentsResponse(documents=[_document(r) for r in records], total=total)

    async def DeleteDocument(
        self, request: ingest_pb2.DeleteDocumentRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.DeleteDocumentResponse:
        _scope(request.tenant, request.document_id)
        deleted = await self._ingestor.delete(request.tenant, request.document_id)
        return ingest_pb2.DeleteDocumentResponse(chunks_deleted=deleted)
