"""gRPC adapter from RetrieverService messages to a ChunkIndex."""

import base64

import grpc
from google.protobuf import json_format, struct_pb2

from ragmesh.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from services.retriever.index import (
    ATTRIBUTES,
    ChunkIndex,
    ChunkRecord,
    Condition,
    FusionMethod,
    Mode,
    ScoredChunk,
    SearchQuery,
)
from services.runtime.access import ACCESS_FIELD, Viewer, access_entries, split_access
from services.runtime.errors import InvalidArgument
from services.runtime.sentences import whole_rows

_MODES = {
    retriever_pb2.SEARCH_MODE_UNSPECIFIED: Mode.HYBRID,
    retriever_pb2.SEARCH_MODE_HYBRID: Mode.HYBRID,
    retriever_pb2.SEARCH_MODE_DENSE: Mode.DENSE,
    retriever_pb2.SEARCH_MODE_SPARSE: Mode.SPARSE,
}
_FUSIONS = {
    retriever_pb2.FUSION_UNSPECIFIED: FusionMethod.RRF,
    retriever_pb2.FUSION_RRF: FusionMethod.RRF,
    retriever_pb2.FUSION_DBSF: FusionMethod.DBSF,
}
MAX_CANDIDATES = 1000
MAX_SECTIONS = 100
MAX_ACCESS_NAMES = 100
MAX_NAME_CHARS = 200
SENTENCE_VECTORS = "sentence_vectors"
_STRING_FIELDS = ("document_id", "text", "title", "section_id", "source", "licence", "content_type", "revision")


def _require_tenant(tenant: str) -> None:
    if not tenant:
        raise InvalidArgument("tenant is required")


def _viewer(viewer: retriever_pb2.Viewer) -> Viewer:
    return Viewer(everything=viewer.everything, user=viewer.user, groups=tuple(viewer.groups))


def _access(users: list[str], groups: list[str]) -> list[str]:
    """The access list for these names, refused when a name is empty, too long or too many are given."""
    if len(users) > MAX_ACCESS_NAMES or len(groups) > MAX_ACCESS_NAMES:
        raise InvalidArgument(f"at most {MAX_ACCESS_NAMES} allowed users and {MAX_ACCESS_NAMES} allowed groups")
    if any(not name.strip() or len(name) > MAX_NAME_CHARS for name in (*users, *groups)):
        raise InvalidArgument(f"allowed user and group names must be 1 to {MAX_NAME_CHARS} characters")
    return access_entries(users, groups)


def _record(chunk: retriever_pb2.Chunk, dimension: int) -> ChunkRecord:
    if not chunk.id or not chunk.document_id:
        raise InvalidArgument("every chunk needs an id and a document_id")
    if len(chunk.dense) != dimension:
        raise InvalidArgument(
            f"chunk {chunk.id}: dense vector has {len(chunk.dense)} values, the index takes {dimension}"
        )
    payload: dict[str, object] = {name: getattr(chunk, name) for name in _STRING_FIELDS}
    payload.update(
        chunk_index=chunk.chunk_index,
        heading_path=list(chunk.heading_path),
        tags=list(chunk.tags),
        char_start=chunk.char_start,
        char_end=chunk.char_end,
        section_chunks=chunk.section_chunks,
    )
    payload[ACCESS_FIELD] = _access(list(chunk.allowed_users), list(chunk.allowed_groups))
    if chunk.sentence_vectors:
        # Rows of the index's dimension (services/runtime/sentences.py); JSON payloads carry them as base64.
        if not whole_rows(chunk.sentence_vectors, dimension):
            raise InvalidArgument(
                f"chunk {chunk.id}: sentence_vectors is {len(chunk.sentence_vectors)} bytes, not float16 rows of "
                f"{dimension} values"
            )
        payload[SENTENCE_VECTORS] = base64.b64encode(chunk.sentence_vectors).decode("ascii")
    if chunk.attributes.fields:
        payload[ATTRIBUTES] = json_format.MessageToDict(chunk.attributes)
    return ChunkRecord(id=chunk.id, dense=list(chunk.dense), payload=payload)


def _chunk(hit: ScoredChunk, sentence_vectors: bool = True) -> retriever_pb2.Chunk:
    p = hit.payload
    attributes = struct_pb2.Struct()
    if isinstance(p.get(ATTRIBUTES), dict):
        attributes.update(p[ATTRIBUTES])
    users, groups = split_access([str(e) for e in p.get(ACCESS_FIELD) or []])
    return retriever_pb2.Chunk(
        attributes=attributes,
        allowed_users=users,
        allowed_groups=groups,
        id=hit.id,
        chunk_index=int(p.get("chunk_index", 0)),
        heading_path=[str(h) for h in p.get("heading_path", [])],
        tags=[str(t) for t in p.get("tags", [])],
        char_start=int(p.get("char_start", 0)),
        char_end=int(p.get("char_end", 0)),
        section_chunks=int(p.get("section_chunks", 0)),
        sentence_vectors=base64.b64decode(str(p.get(SENTENCE_VECTORS, ""))) if sentence_vectors else b"",
        **{name: str(p.get(name, "")) for name in _STRING_FIELDS},
    )


class RetrieverServicer(retriever_pb2_grpc.RetrieverServiceServicer):
    """Validates requests and hands them to the index."""

    def __init__(self, index: ChunkIndex, dimension: int, max_top_k: int, prefetch_factor: int, rrf_k: int) -> None:
        self._index = index
        self._dimension = dimension
        self._max_top_k = max_top_k
        self._prefetch_factor = prefetch_factor
        self._rrf_k = rrf_k

    async def Upsert(
        self, request: retriever_pb2.UpsertRequest, context: grpc.aio.ServicerContext
    ) -> retriever_pb2.UpsertResponse:
        _require_tenant(request.tenant)
        records = [_record(chunk, self._dimension) for chunk in request.chunks]
        if not records:
            return retriever_pb2.UpsertResponse(upserted=0)
        return retriever_pb2.UpsertResponse(upserted=await self._index.upsert(request.tenant, records))

    async def Search(
        self, request: retriever_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> retriever_pb2.SearchResponse:
        _require_tenant(request.tenant)
        mode = _MODES.get(request.mode)
        if mode is None:
            raise InvalidArgument(f"unknown search mode {request.mode}")
        if not 1 <= request.top_k <= self._max_top_k:
            raise InvalidArgument(f"top_k must be between 1 and {self._max_top_k}, got {request.top_k}")
        if mode is not Mode.SPARSE and len(request.dense) != self._dimension:
            raise InvalidArgument(f"dense query vector must have {self._dimension} values, got {len(request.dense)}")
        if mode is not Mode.DENSE and not request.text.strip():
            raise InvalidArgument("text is required for sparse and hybrid search")
        if request.dense_weight < 0 or request.sparse_weight < 0:
            raise InvalidArgument("fusion weights must not be negative")
        fusion = _FUSIONS.get(request.fusion)
        if fusion is None:
            raise InvalidArgument(f"unknown fusion {request.fusion}")
        if request.HasField("mmr_lambda") and not 0.0 <= request.mmr_lambda <= 1.0:
            raise InvalidArgument(f"mmr_lambda must be between 0 and 1, got {request.mmr_lambda}")
        if request.HasField("mmr_lambda") and mode is Mode.SPARSE:
            raise InvalidArgument("mmr_lambda needs the dense vector: use hybrid or dense mode")
        if request.candidates > MAX_CANDIDATES:
            raise InvalidArgument(f"candidates must be at most {MAX_CANDIDATES}")
        query = SearchQuery(
            tenant=request.tenant,
            text=request.text,
            dense=list(request.dense),
            top_k=request.top_k,
            conditions=[
                Condition(
                    c.field,
                    list(c.any_of),
                    list(c.none_of),
                    gte=c.gte if c.HasField("gte") else None,
                    lte=c.lte if c.HasField("lte") else None,
                )
                for c in request.filter.must
            ],
            mode=mode,
            dense_weight=request.dense_weight or 1.0,
            sparse_weight=request.sparse_weight or 1.0,
            fusion=fusion,
            rrf_k=request.rrf_k or self._rrf_k,
            mmr_lambda=request.mmr_lambda if request.HasField("mmr_lambda") else None,
            candidates=request.candidates or request.top_k * self._prefetch_factor,
            viewer=_viewer(request.viewer),
        )
        hits = await self._index.search(query)
        return retriever_pb2.SearchResponse(
            hits=[
                retriever_pb2.Hit(
                    chunk=_chunk(h, not request.omit_sentence_vectors),
                    score=h.score,
                    dense_similarity=h.dense_similarity,
                )
                for h in hits
            ]
        )

    async def GetSections(
        self, request: retriever_pb2.GetSectionsRequest, context: grpc.aio.ServicerContext
    ) -> retriever_pb2.GetSectionsResponse:
        _require_tenant(request.tenant)
        if len(request.sections) > MAX_SECTIONS:
            raise InvalidArgument(f"at most {MAX_SECTIONS} sections per call, got {len(request.sections)}")
        refs = list(dict.fromkeys((ref.document_id, ref.section_id) for ref in request.sections))
        if any(not document_id or not section_id for document_id, section_id in refs):
            raise InvalidArgument("every section needs a document_id and a section_id")
        found = await self._index.sections(request.tenant, refs, _viewer(request.viewer))
        return retriever_pb2.GetSectionsResponse(
            sections=[
                retriever_pb2.Section(
                    document_id=ref[0], section_id=ref[1], chunks=[_chunk(chunk) for chunk in found[ref]]
                )
                for ref in refs
                if ref in found
            ]
        )

    async def DeleteDocument(
        self, request: retriever_pb2.DeleteDocumentRequest, context: grpc.aio.ServicerContext
    ) -> retriever_pb2.DeleteDocumentResponse:
        _require_tenant(request.tenant)
        if not request.document_id:
            raise InvalidArgument("document_id is required")
        await self._index.delete_document(
            request.tenant, request.document_id, request.keep_revision, request.only_revision
        )
        return retriever_pb2.DeleteDocumentResponse()

    async def GetStats(
        self, request: retriever_pb2.GetStatsRequest, context: grpc.aio.ServicerContext
    ) -> retriever_pb2.GetStatsResponse:
        return retriever_pb2.GetStatsResponse(
            chunks=await self._index.count(request.tenant), backend=self._index.backend
        )

    async def SetDocumentAccess(
        self, request: retriever_pb2.SetDocumentAccessRequest, context: grpc.aio.ServicerContext
    ) -> retriever_pb2.SetDocumentAccessResponse:
        _require_tenant(request.tenant)
        if not request.document_id:
            raise InvalidArgument("document_id is required")
        entries = _access(list(request.allowed_users), list(request.allowed_groups))
        await self._index.set_access(request.tenant, request.document_id, entries)
        return retriever_pb2.SetDocumentAccessResponse()
