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

class GetCorpusVersionRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class CorpusVersion(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("tenant", "fields")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    fields: _containers.RepeatedCompositeFieldContainer[MetadataField]
    def __init__(self, tenant: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[MetadataField, _Mapping]]] = ...) -> None: ...

class GetMetadataSchemaRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class DocumentMetadata(_message.Message):
    __slots__ = ("title", "source", "tags", "licence", "attributes", "allowed_users", "allowed_groups")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_USERS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_GROUPS_FIELD_NUMBER: _ClassVar[int]
    title: str
    source: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    licence: str
    attributes: _struct_pb2.Struct
    allowed_users: _containers.RepeatedScalarFieldContainer[str]
    allowed_groups: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, title: _Optional[str] = ..., source: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., licence: _Optional[str] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., allowed_users: _Optional[_Iterable[str]] = ..., allowed_groups: _Optional[_Iterable[str]] = ...) -> None: ...

class IngestDocumentRequest(_message.Message):
    __slots__ = ("tenant", "filename", "content_type", "content", "metadata", "document_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    filename: str
    content_type: str
    content: bytes
    metadata: DocumentMetadata
    document_id: str
    def __init__(self, tenant: _Optional[str] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., content: _Optional[bytes] = ..., metadata: _Optional[_Union[DocumentMetadata, _Mapping]] = ..., document_id: _Optional[str] = ...) -> None: ...

class IngestDocumentResponse(_message.Message):
    __slots__ = ("document_id", "chunk_count", "status", "duplicate_of", "similarity")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_OF_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    chunk_count: int
    status: IngestStatus
    duplicate_of: str
    similarity: float
    def __init__(self, document_id: _Optional[str] = ..., chunk_count: _Optional[int] = ..., status: _Optional[_Union[IngestStatus, str]] = ..., duplicate_of: _Optional[str] = ..., similarity: _Optional[float] = ...) -> None: ...

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
    __slots__ = ("tenant", "document_id", "viewer")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    document_id: str
    viewer: _retriever_pb2.Viewer
    def __init__(self, tenant: _Optional[str] = ..., document_id: _Optional[str] = ..., viewer: _Optional[_Union[_retriever_pb2.Viewer, _Mapping]] = ...) -> None: ...

class DeleteDocumentResponse(_message.Message):
    __slots__ = ("chunks_deleted",)
    CHUNKS_DELETED_FIELD_NUMBER: _ClassVar[int]
    chunks_deleted: int
    def __init__(self, chunks_deleted: _Optional[int] = ...) -> None: ...

class SetDocumentAccessRequest(_message.Message):
    __slots__ = ("tenant", "document_id", "viewer", "allowed_users", "allowed_groups")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_USERS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_GROUPS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    document_id: str
    viewer: _retriever_pb2.Viewer
    allowed_users: _containers.RepeatedScalarFieldContainer[str]
    allowed_groups: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant: _Optional[str] = ..., document_id: _Optional[str] = ..., viewer: _Optional[_Union[_retriever_pb2.Viewer, _Mapping]] = ..., allowed_users: _Optional[_Iterable[str]] = ..., allowed_groups: _Optional[_Iterable[str]] = ...) -> None: ...
