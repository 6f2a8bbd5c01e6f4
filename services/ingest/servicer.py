"""gRPC adapter from IngestService messages to the Ingestor."""

import grpc
from google.protobuf import json_format
from pydantic import ValidationError

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from ragmesh.retriever.v1 import retriever_pb2
from services.ingest import review, schema
from services.ingest.aggregates import CollectionCounts
from services.ingest.catalog import DocumentRecord
from services.ingest.inputs import IngestInput, IngestResult
from services.ingest.jobs import JobView
from services.ingest.pipeline import Ingestor
from services.ingest.quarantine import HELD, REFUSED
from services.ingest.schema import FieldSpec
from services.ingest.worker import Workers
from services.runtime.access import Viewer
from services.runtime.collection_plans import CollectionPlan
from services.runtime.errors import InvalidArgument
from services.runtime.metadata_types import FIELD_TYPE_CODES, FIELD_TYPES, OPERATOR_CODES, OPERATORS

_STATUS = {
    "created": ingest_pb2.INGEST_STATUS_CREATED,
    "updated": ingest_pb2.INGEST_STATUS_UPDATED,
    "unchanged": ingest_pb2.INGEST_STATUS_UNCHANGED,
    "duplicate": ingest_pb2.INGEST_STATUS_DUPLICATE,
    "held": ingest_pb2.INGEST_STATUS_HELD,
}
MAX_PAGE = 500


def _spec(message: ingest_pb2.MetadataField) -> FieldSpec:
    if message.type not in FIELD_TYPES:
        raise InvalidArgument(f"field {message.name!r}: a type is required")
    if any(op not in OPERATORS for op in message.operators):
        raise InvalidArgument(f"field {message.name!r}: unknown operator")
    return FieldSpec(
        name=message.name,
        type=FIELD_TYPES[message.type],
        description=message.description,
        operators=[OPERATORS[op] for op in message.operators],
        aliases=list(message.aliases),
        values=list(message.values),
    )


def _schema(tenant: str, fields: list[FieldSpec], updated_at: str) -> ingest_pb2.MetadataSchema:
    return ingest_pb2.MetadataSchema(
        tenant=tenant,
        updated_at=updated_at,
        fields=[
            ingest_pb2.MetadataField(
                name=spec.name,
                type=FIELD_TYPE_CODES[spec.type],
                description=spec.description,
                operators=[OPERATOR_CODES[op] for op in spec.operators],
                aliases=spec.aliases,
                values=spec.values,
            )
            for spec in fields
        ],
    )


def _metadata(record: DocumentRecord) -> ingest_pb2.DocumentMetadata:
    metadata = ingest_pb2.DocumentMetadata(
        title=record.title,
        source=record.source,
        tags=record.tags,
        licence=record.licence,
        allowed_users=record.allowed_users,
        allowed_groups=record.allowed_groups,
        allowed_uses=record.allowed_uses,
    )
    metadata.attributes.update(record.attributes)
    return metadata


def _document(record: DocumentRecord) -> ingest_pb2.Document:
    return ingest_pb2.Document(
        document_id=record.document_id,
        filename=record.filename,
        content_type=record.content_type,
        metadata=_metadata(record),
        chunk_count=record.chunk_count,
        size_bytes=record.size_bytes,
        content_hash=record.content_hash,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _ingested(result: IngestResult) -> ingest_pb2.IngestDocumentResponse:
    return ingest_pb2.IngestDocumentResponse(
        document_id=result.document_id,
        chunk_count=result.chunk_count,
        status=_STATUS[result.status],
        duplicate_of=result.duplicate_of,
        similarity=result.similarity,
        reason=result.reason,
    )


def _job(job: JobView) -> ingest_pb2.Job:
    return ingest_pb2.Job(
        job_id=job.job_id,
        tenant=job.tenant,
        created_at=job.created_at,
        submitted_by=job.submitted_by,
        total=job.total,
        finished=job.finished,
        done=job.finished == job.total,
        counts=job.counts,
        items=[
            ingest_pb2.JobItem(
                position=item.position,
                name=item.name,
                state=item.state,
                reason=item.reason,
                document_id=item.document_id,
                chunk_count=item.chunk_count,
                duplicate_of=item.duplicate_of,
                similarity=item.similarity,
                attempts=item.attempts,
                updated_at=item.updated_at,
            )
            for item in job.items
        ],
    )


def _viewer(viewer: retriever_pb2.Viewer) -> Viewer:
    return Viewer(everything=viewer.everything, user=viewer.user, groups=tuple(viewer.groups))


def _scope(tenant: str, document_id: str | None = None) -> None:
    if not tenant:
        raise InvalidArgument("tenant is required")
    if document_id is not None and not document_id:
        raise InvalidArgument("document_id is required")


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    """Thin: every rule lives in the Ingestor."""

    def __init__(self, ingestor: Ingestor, workers: Workers) -> None:
        self._ingestor = ingestor
        self._workers = workers

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
                attributes=json_format.MessageToDict(request.metadata.attributes),
                allowed_users=list(request.metadata.allowed_users),
                allowed_groups=list(request.metadata.allowed_groups),
                allowed_uses=list(request.metadata.allowed_uses),
                actor=request.actor,
            )
        )
        return _ingested(result)

    async def GetDocument(
        self, request: ingest_pb2.GetDocumentRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.Document:
        _scope(request.tenant, request.document_id)
        return _document(await self._ingestor.get(request.tenant, request.document_id, _viewer(request.viewer)))

    async def GetDocumentText(
        self, request: ingest_pb2.GetDocumentTextRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.DocumentText:
        _scope(request.tenant, request.document_id)
        record, document = await self._ingestor.extracted(request.tenant, request.document_id, _viewer(request.viewer))
        text = document.text
        end = request.char_end or len(text)
        if request.char_start > len(text) or end > len(text) or request.char_start > end:
            raise InvalidArgument(
                f"char_start {request.char_start} / char_end {request.char_end} fall outside the text "
                f"(0 <= char_start <= char_end <= {len(text)})"
            )
        return ingest_pb2.DocumentText(
            document_id=record.document_id,
            text=text[request.char_start : end],
            char_start=request.char_start,
            char_end=end,
            total_chars=len(text),
            content_hash=record.content_hash,
            sections=[
                ingest_pb2.TextSection(
                    heading_path=section.heading_path,
                    char_start=section.start,
                    char_end=section.start + len(section.text),
                )
                for section in document.sections
            ],
        )

    async def ListDocuments(
        self, request: ingest_pb2.ListDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.ListDocumentsResponse:
        _scope(request.tenant)
        limit = request.limit or 50
        if limit > MAX_PAGE:
            raise InvalidArgument(f"limit must be at most {MAX_PAGE}")
        records, total = await self._ingestor.catalog.page(
            request.tenant, limit, request.offset, _viewer(request.viewer)
        )
        return ingest_pb2.ListDocumentsResponse(documents=[_document(r) for r in records], total=total)

    async def DeleteDocument(
        self, request: ingest_pb2.DeleteDocumentRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.DeleteDocumentResponse:
        _scope(request.tenant, request.document_id)
        deleted = await self._ingestor.delete(
            request.tenant, request.document_id, _viewer(request.viewer), request.actor
        )
        return ingest_pb2.DeleteDocumentResponse(chunks_deleted=deleted)

    async def PutMetadataSchema(
        self, request: ingest_pb2.PutMetadataSchemaRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.MetadataSchema:
        _scope(request.tenant)
        fields, updated_at = await schema.replace(
            self._ingestor.catalog, request.tenant, [_spec(f) for f in request.fields], request.actor
        )
        return _schema(request.tenant, fields, updated_at)

    async def GetMetadataSchema(
        self, request: ingest_pb2.GetMetadataSchemaRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.MetadataSchema:
        _scope(request.tenant)
        return _schema(request.tenant, *(await schema.declared(self._ingestor.catalog, request.tenant)))

    async def GetCorpusVersion(
        self, request: ingest_pb2.GetCorpusVersionRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.CorpusVersion:
        _scope(request.tenant)
        catalog = self._ingestor.catalog
        return ingest_pb2.CorpusVersion(
            version=await catalog.corpus_version(request.tenant), announced=catalog.announcer.enabled
        )

    async def SetDocumentAccess(
        self, request: ingest_pb2.SetDocumentAccessRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.Document:
        _scope(request.tenant, request.document_id)
        record = await self._ingestor.set_access(
            request.tenant,
            request.document_id,
            _viewer(request.viewer),
            list(request.allowed_users),
            list(request.allowed_groups),
            request.actor,
        )
        return _document(record)

    async def SubmitJob(
        self, request: ingest_pb2.SubmitJobRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.Job:
        _scope(request.tenant)
        job_id = await self._workers.submit(request.tenant, request.submitted_by, list(request.documents))
        return _job(await self._ingestor.jobs.get(request.tenant, job_id))

    async def GetJob(self, request: ingest_pb2.GetJobRequest, context: grpc.aio.ServicerContext) -> ingest_pb2.Job:
        _scope(request.tenant)
        if not request.job_id:
            raise InvalidArgument("job_id is required")
        return _job(await self._ingestor.jobs.get(request.tenant, request.job_id))

    async def ListQuarantine(
        self, request: ingest_pb2.ListQuarantineRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.QuarantineList:
        _scope(request.tenant)
        if request.kind not in ("", REFUSED, HELD):
            raise InvalidArgument(f"kind must be {REFUSED!r}, {HELD!r} or empty, not {request.kind!r}")
        entries = await self._ingestor.quarantine.entries(request.tenant, request.kind)
        return ingest_pb2.QuarantineList(
            entries=[
                ingest_pb2.QuarantineEntry(
                    id=e.id,
                    at=e.at,
                    filename=e.filename,
                    content_type=e.content_type,
                    size_bytes=e.size_bytes,
                    reason=e.reason,
                    kind=e.kind,
                    document_id=e.document_id,
                )
                for e in entries
            ]
        )

    async def ReleaseQuarantined(
        self, request: ingest_pb2.QuarantineActionRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.IngestDocumentResponse:
        _scope(request.tenant)
        return _ingested(await review.release(self._ingestor, request.tenant, request.entry_id, request.actor))

    async def DeleteQuarantined(
        self, request: ingest_pb2.QuarantineActionRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.DeleteQuarantinedResponse:
        _scope(request.tenant)
        await review.drop(self._ingestor, request.tenant, request.entry_id, request.actor)
        return ingest_pb2.DeleteQuarantinedResponse()

    async def ListAudit(
        self, request: ingest_pb2.ListAuditRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.AuditList:
        _scope(request.tenant)
        limit = request.limit or 100
        if limit > 1000:
            raise InvalidArgument("limit must be at most 1000")
        entries = await self._ingestor.catalog.audit_log(request.tenant, request.after, limit)
        listed = ingest_pb2.AuditList()
        for entry in entries:
            item = listed.entries.add(
                id=entry["id"],
                at=entry["at"],
                document_id=entry["document_id"],
                action=entry["action"],
                actor=entry["actor"],
            )
            item.detail.update(entry["detail"])
        return listed

    async def AggregateDocuments(
        self, request: ingest_pb2.AggregateDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.AggregateDocumentsResponse:
        _scope(request.tenant)
        try:
            plan = CollectionPlan.model_validate_json(request.plan_json or "{}")
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'plan'}: {e['msg']}" for e in exc.errors())
            raise InvalidArgument(f"the plan is not valid: {problems}") from exc
        fields, _ = await self._ingestor.catalog.schema(request.tenant)
        counted = await CollectionCounts(self._ingestor.catalog.database).count(
            request.tenant, _viewer(request.viewer), plan, {spec.name: spec.type for spec in fields}
        )
        return ingest_pb2.AggregateDocumentsResponse(
            columns=counted.columns,
            rows=[ingest_pb2.AggregateRow(keys=keys, documents=n) for keys, n in counted.rows],
            matched=counted.matched,
            groups=counted.groups,
        )
