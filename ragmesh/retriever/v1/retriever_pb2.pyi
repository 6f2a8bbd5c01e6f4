from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_MODE_UNSPECIFIED: _ClassVar[SearchMode]
    SEARCH_MODE_HYBRID: _ClassVar[SearchMode]
    SEARCH_MODE_DENSE: _ClassVar[SearchMode]
    SEARCH_MODE_SPARSE: _ClassVar[SearchMode]

class Fusion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FUSION_UNSPECIFIED: _ClassVar[Fusion]
    FUSION_RRF: _ClassVar[Fusion]
    FUSION_DBSF: _ClassVar[Fusion]
SEARCH_MODE_UNSPECIFIED: SearchMode
SEARCH_MODE_HYBRID: SearchMode
SEARCH_MODE_DENSE: SearchMode
SEARCH_MODE_SPARSE: SearchMode
FUSION_UNSPECIFIED: Fusion
FUSION_RRF: Fusion
FUSION_DBSF: Fusion

class Viewer(_message.Message):
    __slots__ = ("everything", "user", "groups")
    EVERYTHING_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    everything: bool
    user: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, everything: _Optional[bool] = ..., user: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("id", "document_id", "chunk_index", "text", "dense", "title", "heading_path", "section_id", "source", "tags", "licence", "content_type", "revision", "char_start", "char_end", "attributes", "allowed_users", "allowed_groups", "sentence_vectors", "section_chunks")
    ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DENSE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    HEADING_PATH_FIELD_NUMBER: _ClassVar[int]
    SECTION_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CHAR_START_FIELD_NUMBER: _ClassVar[int]
    CHAR_END_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_USERS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_GROUPS_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    SECTION_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    id: str
    document_id: str
    chunk_index: int
    text: str
    dense: _containers.RepeatedScalarFieldContainer[float]
    title: str
    heading_path: _containers.RepeatedScalarFieldContainer[str]
    section_id: str
    source: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    licence: str
    content_type: str
    revision: str
    char_start: int
    char_end: int
    attributes: _struct_pb2.Struct
    allowed_users: _containers.RepeatedScalarFieldContainer[str]
    allowed_groups: _containers.RepeatedScalarFieldContainer[str]
    sentence_vectors: bytes
    section_chunks: int
    def __init__(self, id: _Optional[str] = ..., document_id: _Optional[str] = ..., chunk_index: _Optional[int] = ..., text: _Optional[str] = ..., dense: _Optional[_Iterable[float]] = ..., title: _Optional[str] = ..., heading_path: _Optional[_Iterable[str]] = ..., section_id: _Optional[str] = ..., source: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., licence: _Optional[str] = ..., content_type: _Optional[str] = ..., revision: _Optional[str] = ..., char_start: _Optional[int] = ..., char_end: _Optional[int] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., allowed_users: _Optional[_Iterable[str]] = ..., allowed_groups: _Optional[_Iterable[str]] = ..., sentence_vectors: _Optional[bytes] = ..., section_chunks: _Optional[int] = ...) -> None: ...

class UpsertRequest(_message.Message):
    __slots__ = ("tenant", "chunks")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    chunks: _containers.RepeatedCompositeFieldContainer[Chunk]
    def __init__(self, tenant: _Optional[str] = ..., chunks: _Optional[_Iterable[_Union[Chunk, _Mapping]]] = ...) -> None: ...

class UpsertResponse(_message.Message):
    __slots__ = ("upserted",)
    UPSERTED_FIELD_NUMBER: _ClassVar[int]
    upserted: int
    def __init__(self, upserted: _Optional[int] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("field", "any_of", "none_of", "gte", "lte")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    ANY_OF_FIELD_NUMBER: _ClassVar[int]
    NONE_OF_FIELD_NUMBER: _ClassVar[int]
    GTE_FIELD_NUMBER: _ClassVar[int]
    LTE_FIELD_NUMBER: _ClassVar[int]
    field: str
    any_of: _containers.RepeatedScalarFieldContainer[str]
    none_of: _containers.RepeatedScalarFieldContainer[str]
    gte: float
    lte: float
    def __init__(self, field: _Optional[str] = ..., any_of: _Optional[_Iterable[str]] = ..., none_of: _Optional[_Iterable[str]] = ..., gte: _Optional[float] = ..., lte: _Optional[float] = ...) -> None: ...

class Filter(_message.Message):
    __slots__ = ("must",)
    MUST_FIELD_NUMBER: _ClassVar[int]
    must: _containers.RepeatedCompositeFieldContainer[Condition]
    def __init__(self, must: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("tenant", "text", "dense", "top_k", "filter", "mode", "dense_weight", "sparse_weight", "fusion", "rrf_k", "mmr_lambda", "candidates", "viewer", "omit_sentence_vectors")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DENSE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DENSE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SPARSE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    FUSION_FIELD_NUMBER: _ClassVar[int]
    RRF_K_FIELD_NUMBER: _ClassVar[int]
    MMR_LAMBDA_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    VIEWER_FIELD_NUMBER: _ClassVar[int]
    OMIT_SENTENCE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    text: str
    dense: _containers.RepeatedScalarFieldContainer[float]
    top_k: int
    filter: Filter
    mode: SearchMode
    dense_weight: float
    sparse_weight: float
    fusion: Fusion
    rrf_k: int
    mmr_lambda: float
    candidates: int
    viewer: Viewer
    omit_sentence_vectors: bool
    def __init__(self, tenant: _Optional[str] = ..., text: _Optional[str] = ..., dense: _Optional[_Iterable[float]] = ..., top_k: _Optional[int] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ..., mode: _Optional[_Union[SearchMode, str]] = ..., dense_weight: _Optional[float] = ..., sparse_weight: _Optional[float] = ..., fusion: _Optional[_Union[Fusion, str]] = ..., rrf_k: _Optional[int] = ..., mmr_lambda: _Optional[float] = ..., candidates: _Optional[int] = ..., viewer: _Optional[_Union[Viewer, _Mapping]] = ..., omit_sentence_vectors: _Optional[bool] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("chunk", "score", "dense_similarity")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    DENSE_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    chunk: Chunk
    score: float
    dense_similarity: float
    def __init__(self, chunk: _Optional[_Union[Chunk, _Mapping]] = ..., score: _Optional[float] = ..., dense_similarity: _Optional[float] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    def __init__(self, hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ...) -> None: ...

class SectionRef(_message.Message):
    __slots__ = ("document_id", "section_id")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SECTION_ID_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    section_id: str
    def __init__(self, document_id: _Optional[str] = ..., section_id: _Optional[str] = ...) -> None: ...

class GetSectionsRequest(_message.Message):
    __slots__ = ("tenant", "sections", "viewer")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    VIEWER_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    sections: _containers.RepeatedCompositeFieldContainer[SectionRef]
    viewer: Viewer
    def __init__(self, tenant: _Optional[str] = ..., sections: _Optional[_Iterable[_Union[SectionRef, _Mapping]]] = ..., viewer: _Optional[_Union[Viewer, _Mapping]] = ...) -> None: ...

class Section(_message.Message):
    __slots__ = ("document_id", "section_id", "chunks")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SECTION_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    section_id: str
    chunks: _containers.RepeatedCompositeFieldContainer[Chunk]
    def __init__(self, document_id: _Optional[str] = ..., section_id: _Optional[str] = ..., chunks: _Optional[_Iterable[_Union[Chunk, _Mapping]]] = ...) -> None: ...

class GetSectionsResponse(_message.Message):
    __slots__ = ("sections",)
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    sections: _containers.RepeatedCompositeFieldContainer[Section]
    def __init__(self, sections: _Optional[_Iterable[_Union[Section, _Mapping]]] = ...) -> None: ...

class DeleteDocumentRequest(_message.Message):
    __slots__ = ("tenant", "document_id", "keep_revision", "only_revision")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KEEP_REVISION_FIELD_NUMBER: _ClassVar[int]
    ONLY_REVISION_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    document_id: str
    keep_revision: str
    only_revision: str
    def __init__(self, tenant: _Optional[str] = ..., document_id: _Optional[str] = ..., keep_revision: _Optional[str] = ..., only_revision: _Optional[str] = ...) -> None: ...

class DeleteDocumentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("chunks", "backend")
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    chunks: int
    backend: str
    def __init__(self, chunks: _Optional[int] = ..., backend: _Optional[str] = ...) -> None: ...

class SetDocumentAccessRequest(_message.Message):
    __slots__ = ("tenant", "document_id", "allowed_users", "allowed_groups")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_USERS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_GROUPS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    document_id: str
    allowed_users: _containers.RepeatedScalarFieldContainer[str]
    allowed_groups: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant: _Optional[str] = ..., document_id: _Optional[str] = ..., allowed_users: _Optional[_Iterable[str]] = ..., allowed_groups: _Optional[_Iterable[str]] = ...) -> None: ...

class SetDocumentAccessResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
