from google.protobuf import struct_pb2 as _struct_pb2
from ragmesh.retriever.v1 import retriever_pb2 as _retriever_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FieldType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIELD_TYPE_UNSPECIFIED: _ClassVar[FieldType]
    FIELD_TYPE_KEYWORD: _ClassVar[FieldType]
    FIELD_TYPE_KEYWORDS: _ClassVar[FieldType]
    FIELD_TYPE_INTEGER: _ClassVar[FieldType]
    FIELD_TYPE_NUMBER: _ClassVar[FieldType]
    FIELD_TYPE_YEAR: _ClassVar[FieldType]

class Operator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATOR_UNSPECIFIED: _ClassVar[Operator]
    OPERATOR_ANY_OF: _ClassVar[Operator]
    OPERATOR_NONE_OF: _ClassVar[Operator]
    OPERATOR_GTE: _ClassVar[Operator]
    OPERATOR_LTE: _ClassVar[Operator]

class IngestStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INGEST_STATUS_UNSPECIFIED: _ClassVar[IngestStatus]
    INGEST_STATUS_CREATED: _ClassVar[IngestStatus]
    INGEST_STATUS_UPDATED: _ClassVar[IngestStatus]
    INGEST_STATUS_UNCHANGED: _ClassVar[IngestStatus]
    INGEST_STATUS_DUPLICATE: _ClassVar[IngestStatus]
    INGEST_STATUS_HELD: _ClassVar[IngestStatus]
FIELD_TYPE_UNSPECIFIED: FieldType
FIELD_TYPE_KEYWORD: FieldType
FIELD_TYPE_KEYWORDS: FieldType
FIELD_TYPE_INTEGER: FieldType
FIELD_TYPE_NUMBER: FieldType
FIELD_TYPE_YEAR: FieldType
OPERATOR_UNSPECIFIED: Operator
OPERATOR_ANY_OF: Operator
OPERATOR_NONE_OF: Operator
OPERATOR_GTE: Operator
OPERATOR_LTE: Operator
INGEST_STATUS_UNSPECIFIED: IngestStatus
INGEST_STATUS_CREATED: IngestStatus
INGEST_STATUS_UPDATED: IngestStatus
INGEST_STATUS_UNCHANGED: IngestStatus
INGEST_STATUS_DUPLICATE: IngestStatus
INGEST_STATUS_HELD: IngestStatus

class ListQuarantineRequest(_message.Message):
    __slots__ = ("tenant", "kind")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    kind: str
    def __init__(self, tenant: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class QuarantineEntry(_message.Message):
    __slots__ = ("id", "at", "filename", "content_type", "size_bytes", "reason", "kind", "document_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    at: str
    filename: str
    content_type: str
    size_bytes: int
    reason: str
    kind: str
    document_id: str
    def __init__(self, id: _Optional[int] = ..., at: _Optional[str] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., reason: _Optional[str] = ..., kind: _Optional[str] = ..., document_id: _Optional[str] = ...) -> None: ...

class QuarantineList(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[QuarantineEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[QuarantineEntry, _Mapping]]] = ...) -> None: ...

class QuarantineActionRequest(_message.Message):
    __slots__ = ("tenant", "entry_id", "actor")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    entry_id: int
    actor: str
    def __init__(self, tenant: _Optional[str] = ..., entry_id: _Optional[int] = ..., actor: _Optional[str] = ...) -> None: ...

class DeleteQuarantinedResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAuditRequest(_message.Message):
    __slots__ = ("tenant", "after", "limit")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    after: int
    limit: int
    def __init__(self, tenant: _Optional[str] = ..., after: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("id", "at", "document_id", "action", "actor", "detail")
    ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    id: int
    at: str
    document_id: str
    action: str
    actor: str
    detail: _struct_pb2.Struct
    def __init__(self, id: _Optional[int] = ..., at: _Optional[str] = ..., document_id: _Optional[str] = ..., action: _Optional[str] = ..., actor: _Optional[str] = ..., detail: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AuditList(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ...) -> None: ...

class JobDocument(_message.Message):
    __slots__ = ("filename", "content_type", "content", "metadata", "document_id", "url")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    filename: str
    content_type: str
    content: bytes
    metadata: DocumentMetadata
    document_id: str
    url: str
    def __init__(self, filename: _Optional[str] = ..., content_type: _Optional[str] = ..., content: _Optional[bytes] = ..., metadata: _Optional[_Union[DocumentMetadata, _Mapping]] = ..., document_id: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("tenant", "documents", "submitted_by")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_BY_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    documents: _containers.RepeatedCompositeFieldContainer[JobDocument]
    submitted_by: str
    def __init__(self, tenant: _Optional[str] = ..., documents: _Optional[_Iterable[_Union[JobDocument, _Mapping]]] = ..., submitted_by: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("tenant", "job_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    job_id: str
    def __init__(self, tenant: _Optional[str] = ..., job_id: _Optional[str] = ...) -> None: ...

class JobItem(_message.Message):
    __slots__ = ("position", "name", "state", "reason", "document_id", "chunk_count", "duplicate_of", "similarity", "attempts", "updated_at")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_OF_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
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
    def __init__(self, position: _Optional[int] = ..., name: _Optional[str] = ..., state: _Optional[str] = ..., reason: _Optional[str] = ..., document_id: _Optional[str] = ..., chunk_count: _Optional[int] = ..., duplicate_of: _Optional[str] = ..., similarity: _Optional[float] = ..., attempts: _Optional[int] = ..., updated_at: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "tenant", "created_at", "submitted_by", "total", "finished", "done", "counts", "items")
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_BY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    tenant: str
    created_at: str
    submitted_by: str
    total: int
    finished: int
    done: bool
    counts: _containers.ScalarMap[str, int]
    items: _containers.RepeatedCompositeFieldContainer[JobItem]
    def __init__(self, job_id: _Optional[str] = ..., tenant: _Optional[str] = ..., created_at: _Optional[str] = ..., submitted_by: _Optional[str] = ..., total: _Optional[int] = ..., finished: _Optional[int] = ..., done: _Optional[bool] = ..., counts: _Optional[_Mapping[str, int]] = ..., items: _Optional[_Iterable[_Union[JobItem, _Mapping]]] = ...) -> None: ...

class GetCorpusVersionRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class CorpusVersion(_message.Message):
    __slots__ = ("version", "announced")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCED_FIELD_NUMBER: _ClassVar[int]
    version: str
    announced: bool
    def __init__(self, version: _Optional[str] = ..., announced: _Optional[bool] = ...) -> None: ...

class MetadataField(_message.Message):
    __slots__ = ("name", "type", "description", "operators", "aliases", "values")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: FieldType
    description: str
    operators: _containers.RepeatedScalarFieldContainer[Operator]
    aliases: _containers.RepeatedScalarFieldContainer[str]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[FieldType, str]] = ..., description: _Optional[str] = ..., operators: _Optional[_Iterable[_Union[Operator, str]]] = ..., aliases: _Optional[_Iterable[str]] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class MetadataSchema(_message.Message):
    __slots__ = ("tenant", "fields", "updated_at")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    fields: _containers.RepeatedCompositeFieldContainer[MetadataField]
    updated_at: str
    def __init__(self, tenant: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[MetadataField, _Mapping]]] = ..., updated_at: _Optional[str] = ...) -> None: ...

class PutMetadataSchemaRequest(_message.Message):
    __slots__ = ("tenant", "fields", "actor")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    fields: _containers.RepeatedCompositeFieldContainer[MetadataField]
    actor: str
    def __init__(self, tenant: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[MetadataField, _Mapping]]] = ..., actor: _Optional[str] = ...) -> None: ...

class GetMetadataSchemaRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class DocumentMetadata(_message.Message):
    __slots__ = ("title", "source", "tags", "licence", "attributes", "allowed_users", "allowed_groups", "allowed_uses")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_USERS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_GROUPS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_USES_FIELD_NUMBER: _ClassVar[int]
    title: str
    source: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    licence: str
    attributes: _struct_pb2.Struct
    allowed_users: _containers.RepeatedScalarFieldContainer[str]
    allowed_groups: _containers.RepeatedScalarFieldContainer[str]
    allowed_uses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, title: _Optional[str] = ..., source: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., licence: _Optional[str] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., allowed_users: _Optional[_Iterable[str]] = ..., allowed_groups: _Optional[_Iterable[str]] = ..., allowed_uses: _Optional[_Iterable[str]] = ...) -> None: ...

class IngestDocumentRequest(_message.Message):
    __slots__ = ("tenant", "filename", "content_type", "content", "metadata", "document_id", "actor")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    filename: str
    content_type: str
    content: bytes
    metadata: DocumentMetadata
    document_id: str
    actor: str
    def __init__(self, tenant: _Optional[str] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., content: _Optional[bytes] = ..., metadata: _Optional[_Union[DocumentMetadata, _Mapping]] = ..., document_id: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class IngestDocumentResponse(_message.Message):
    __slots__ = ("document_id", "chunk_count", "status", "duplicate_of", "similarity", "reason")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_OF_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    chunk_count: int
    status: IngestStatus
    duplicate_of: str
    similarity: float
    reason: str
    def __init__(self, document_id: _Optional[str] = ..., chunk_count: _Optional[int] = ..., status: _Optional[_Union[IngestStatus, str]] = ..., duplicate_of: _Optional[str] = ..., similarity: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class Document(_message.Message):
    __slots__ = ("document_id", "filename", "content_type", "metadata", "chunk_count", "size_bytes", "content_hash", "created_at", "updated_at")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    filename: str
    content_type: str
    metadata: DocumentMetadata
    chunk_count: int
    size_bytes: int
    content_hash: str
    created_at: str
    updated_at: str
    def __init__(self, document_id: _Optional[str] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., metadata: _Optional[_Union[DocumentMetadata, _Mapping]] = ..., chunk_count: _Optional[int] = ..., size_bytes: _Optional[int] = ..., content_hash: _Optional[str] = ..., created_at: _Optional[str] = ..., updated_at: _Optional[str] = ...) -> None: ...

class GetDocumentRequest(_message.Message):
    __slots__ = ("tenant", "document_id", "viewer")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    document_id: str
    viewer: _retriever_pb2.Viewer
    def __init__(self, tenant: _Optional[str] = ..., document_id: _Optional[str] = ..., viewer: _Optional[_Union[_retriever_pb2.Viewer, _Mapping]] = ...) -> None: ...

class GetDocumentTextRequest(_message.Message):
    __slots__ = ("tenant", "document_id", "char_start", "char_end", "viewer")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHAR_START_FIELD_NUMBER: _ClassVar[int]
    CHAR_END_FIELD_NUMBER: _ClassVar[int]
    VIEWER_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    document_id: str
    char_start: int
    char_end: int
    viewer: _retriever_pb2.Viewer
    def __init__(self, tenant: _Optional[str] = ..., document_id: _Optional[str] = ..., char_start: _Optional[int] = ..., char_end: _Optional[int] = ..., viewer: _Optional[_Union[_retriever_pb2.Viewer, _Mapping]] = ...) -> None: ...

class TextSection(_message.Message):
    __slots__ = ("heading_path", "char_start", "char_end")
    HEADING_PATH_FIELD_NUMBER: _ClassVar[int]
    CHAR_START_FIELD_NUMBER: _ClassVar[int]
    CHAR_END_FIELD_NUMBER: _ClassVar[int]
    heading_path: _containers.RepeatedScalarFieldContainer[str]
    char_start: int
    char_end: int
    def __init__(self, heading_path: _Optional[_Iterable[str]] = ..., char_start: _Optional[int] = ..., char_end: _Optional[int] = ...) -> None: ...

class DocumentText(_message.Message):
    __slots__ = ("document_id", "text", "char_start", "char_end", "total_chars", "content_hash", "sections")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CHAR_START_FIELD_NUMBER: _ClassVar[int]
    CHAR_END_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CHARS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    text: str
    char_start: int
    char_end: int
    total_chars: int
    content_hash: str
    sections: _containers.RepeatedCompositeFieldContainer[TextSection]
    def __init__(self, document_id: _Optional[str] = ..., text: _Optional[str] = ..., char_start: _Optional[int] = ..., char_end: _Optional[int] = ..., total_chars: _Optional[int] = ..., content_hash: _Optional[str] = ..., sections: _Optional[_Iterable[_Union[TextSection, _Mapping]]] = ...) -> None: ...

class ListDocumentsRequest(_message.Message):
    __slots__ = ("tenant", "limit", "offset", "viewer")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    VIEWER_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    limit: int
    offset: int
    viewer: _retriever_pb2.Viewer
    def __init__(self, tenant: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., viewer: _Optional[_Union[_retriever_pb2.Viewer, _Mapping]] = ...) -> None: ...

class ListDocumentsResponse(_message.Message):
    __slots__ = ("documents", "total")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[Document]
    total: int
    def __init__(self, documents: _Optional[_Iterable[_Union[Document, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class DeleteDocumentRequest(_message.Message):
    __slots__ = ("tenant", "document_id", "viewer", "actor")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    document_id: str
    viewer: _retriever_pb2.Viewer
    actor: str
    def __init__(self, tenant: _Optional[str] = ..., document_id: _Optional[str] = ..., viewer: _Optional[_Union[_retriever_pb2.Viewer, _Mapping]] = ..., actor: _Optional[str] = ...) -> None: ...

class DeleteDocumentResponse(_message.Message):
    __slots__ = ("chunks_deleted",)
    CHUNKS_DELETED_FIELD_NUMBER: _ClassVar[int]
    chunks_deleted: int
    def __init__(self, chunks_deleted: _Optional[int] = ...) -> None: ...

class SetDocumentAccessRequest(_message.Message):
    __slots__ = ("tenant", "document_id", "viewer", "allowed_users", "allowed_groups", "actor")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_USERS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_GROUPS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    document_id: str
    viewer: _retriever_pb2.Viewer
    allowed_users: _containers.RepeatedScalarFieldContainer[str]
    allowed_groups: _containers.RepeatedScalarFieldContainer[str]
    actor: str
    def __init__(self, tenant: _Optional[str] = ..., document_id: _Optional[str] = ..., viewer: _Optional[_Union[_retriever_pb2.Viewer, _Mapping]] = ..., allowed_users: _Optional[_Iterable[str]] = ..., allowed_groups: _Optional[_Iterable[str]] = ..., actor: _Optional[str] = ...) -> None: ...

class AggregateDocumentsRequest(_message.Message):
    __slots__ = ("tenant", "viewer", "plan_json")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    VIEWER_FIELD_NUMBER: _ClassVar[int]
    PLAN_JSON_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    viewer: _retriever_pb2.Viewer
    plan_json: str
    def __init__(self, tenant: _Optional[str] = ..., viewer: _Optional[_Union[_retriever_pb2.Viewer, _Mapping]] = ..., plan_json: _Optional[str] = ...) -> None: ...

class AggregateRow(_message.Message):
    __slots__ = ("keys", "documents")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    documents: int
    def __init__(self, keys: _Optional[_Iterable[str]] = ..., documents: _Optional[int] = ...) -> None: ...

class AggregateDocumentsResponse(_message.Message):
    __slots__ = ("columns", "rows", "matched", "groups")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedScalarFieldContainer[str]
    rows: _containers.RepeatedCompositeFieldContainer[AggregateRow]
    matched: int
    groups: int
    def __init__(self, columns: _Optional[_Iterable[str]] = ..., rows: _Optional[_Iterable[_Union[AggregateRow, _Mapping]]] = ..., matched: _Optional[int] = ..., groups: _Optional[int] = ...) -> None: ...
