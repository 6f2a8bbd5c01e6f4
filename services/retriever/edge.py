"""The embedded backend: qdrant-edge, Qdrant's engine in this process, on disk."""

import asyncio
import logging
import threading
from pathlib import Path

from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    Fusion,
    IntegerIndexParams,
    IsEmptyCondition,
    KeywordIndexParams,
    MatchAny,
    MatchValue,
    Mmr,
    Modifier,
    PayloadSchemaType,
    Point,
    PointVectors,
    Prefetch,
    Query,
    QueryRequest,
    RangeFloat,
    ScrollRequest,
    SparseVector,
    UpdateOperation,
)

from services.retriever.config import RetrieverSettings
from services.retriever.index import (
    DENSE,
    KEYWORD_INDEXES,
    LEGACY_SPARSE,
    SPARSE,
    TENANT_FIELD,
    TERMS_FIELD,
    ChunkRecord,
    FusionMethod,
    LexicalEncoder,
    Mode,
    ScoredChunk,
    SearchQuery,
    TermCounts,
    group_sections,
    tenant_weights,
    to_scored_chunk,
    validate_conditions,
)
from services.runtime.access import ACCESS_FIELD, Viewer

log = logging.getLogger(__name__)
# Qdrant's "no modifier" (a Python keyword as an attribute name).
_NO_MODIFIER = getattr(Modifier, "None")
# What every search returns: the payload, and the dense vector for the query-chunk similarity.
_RETURN = {"with_payload": True, "with_vector": [DENSE]}


def _scope(tenant: str, viewer: Viewer | None) -> list[object]:
    """The tenant, and (unless the viewer sees everything) the access entries that let the viewer in."""
    must: list[object] = [FieldCondition(TENANT_FIELD, match=MatchValue(tenant))]
    entries = viewer.entries() if viewer is not None else None
    if entries is not None:
        # Chunks indexed before access lists existed carry none: they stay open to the whole tenant.
        must.append(
            Filter(should=[FieldCondition(ACCESS_FIELD, match=MatchAny(entries)), IsEmptyCondition(ACCESS_FIELD)])
        )
    return must


def _filter(tenant: str, query: SearchQuery | None = None) -> Filter:
    must = _scope(tenant, query.viewer if query else None)
    must_not: list[object] = []
    for condition in query.conditions if query else []:
        if condition.any_of:
            must.append(FieldCondition(condition.field, match=MatchAny(list(condition.any_of))))
        if condition.none_of:
            must_not.append(FieldCondition(condition.field, match=MatchAny(list(condition.none_of))))
        if condition.has_range:
            must.append(FieldCondition(condition.field, range=RangeFloat(gte=condition.gte, lte=condition.lte)))
    return Filter(must=must, must_not=must_not or None)


class EdgeIndex:
    """One on-disk shard; the tenant is a payload key indexed as such, and every call filters on it."""

    backend = "qdrant-edge"

    def __init__(self, settings: RetrieverSettings) -> None:
        self._settings = settings
        self._path = Path(settings.data_dir) / "shard"
        self._shard: EdgeShard | None = None
        self._lexical = LexicalEncoder()
        self._term_counts = TermCounts(settings.idf_cache_seconds)
        # The shard takes concurrent reads; writes go one at a time so flushes cover whole batches.
        self._write_lock = threading.Lock()

    async def warm_up(self) -> None:
        self._shard = await asyncio.to_thread(self._open)

    def _config(self, sparse: str, modifier: Modifier) -> EdgeConfig:
        return EdgeConfig(
            vectors={DENSE: EdgeVectorParams(size=self._settings.dense_dimension, distance=Distance.Cosine)},
            sparse_vectors={sparse: EdgeSparseVectorParams(modifier=modifier)},
        )

    def _open(self) -> EdgeShard:
        config = self._config(SPARSE, _NO_MODIFIER)
        if self._path.exists() and any(self._path.iterdir()):
            try:
                shard = EdgeShard.load(str(self._path), config)
            except Exception as exc:
                if "incompatible" not in str(exc):
                    raise
                self._upgrade()
                shard = EdgeShard.load(str(self._path), config)
            return shard
        self._path.mkdir(parents=True, exist_ok=True)
        shard = EdgeShard.create(str(self._path), config)
        shard.update(UpdateOperation.create_field_index(TENANT_FIELD, KeywordIndexParams(is_tenant=True)))
        for name in KEYWORD_INDEXES:
            shard.update(UpdateOperation.create_field_index(name, PayloadSchemaType.Keyword))
        shard.update(UpdateOperation.create_field_index(TERMS_FIELD, IntegerIndexParams(lookup=True, range=False)))
        shard.flush()
        return shard

    def _upgrade(self) -> None:
        """A shard from before per-tenant IDF: every chunk gets its term-frequency vector and term list, then the
        collection-wide IDF vector goes. Runs once, at start-up, before the replica reports SERVING."""
        shard = EdgeShard.load(str(self._path), self._config(LEGACY_SPARSE, Modifier.Idf))
        log.warning("upgrading the index at %s to per-tenant BM25 IDF", self._path)
        shard.update(UpdateOperation.create_sparse_vector(SPARSE, modifier=_NO_MODIFIER))
        shard.update(UpdateOperation.create_field_index(TERMS_FIELD, IntegerIndexParams(lookup=True, range=False)))
        shard.update(UpdateOperation.create_field_index(ACCESS_FIELD, PayloadSchemaType.Keyword))
        offset, upgraded = None, 0
        while True:
            page, offset = shard.scroll(ScrollRequest(offset=offset, limit=256, with_payload=True))
            for record in page:
                chunk = ChunkRecord(id=str(record.id), dense=[], payload=dict(record.payload or {}))
                sparse = self._lexical.document(chunk.lexical_text)
                shard.update(UpdateOperation.update_vectors([PointVectors(record.id, {SPARSE: sparse})]))
                shard.update(UpdateOperation.set_payload([record.id], {TERMS_FIELD: list(sparse.indices)}))
                upgraded += 1
            if offset is None:
                break
        shard.update(UpdateOperation.delete_vector_name(LEGACY_SPARSE))
        shard.flush()
        shard.close()
        log.warning("upgraded %d chunks to per-tenant BM25 IDF", upgraded)

    @property
    def shard(self) -> EdgeShard:
        if self._shard is None:
            raise RuntimeError("the index is not open: call warm_up first")
        return self._shard

    async def upsert(self, tenant: str, chunks: list[ChunkRecord]) -> int:
        points = []
        for chunk in chunks:
            sparse = self._lexical.document(chunk.lexical_text)
            payload = {**chunk.payload, TENANT_FIELD: tenant, TERMS_FIELD: list(sparse.indices)}
            points.append(Point(chunk.id, {DENSE: chunk.dense, SPARSE: sparse}, payload))

        def write() -> None:
            with self._write_lock:
                self.shard.update(UpdateOperation.upsert_points(points))
                self.shard.flush()

        await asyncio.to_thread(write)
        self._term_counts.forget(tenant)
        return len(points)

    async def search(self, query: SearchQuery) -> list[ScoredChunk]:
        validate_conditions(query.conditions)
        scope = _filter(query.tenant, query)
        dense = Query.Nearest(query.dense, using=DENSE) if query.dense else None
        terms = list(self._lexical.query(query.text).indices) if query.mode is not Mode.DENSE else []
        indices, weights = await tenant_weights(
            query, terms, self._term_counts, lambda ask: asyncio.to_thread(self._counts, query, ask)
        )
        sparse = Query.Nearest(SparseVector(indices, weights), using=SPARSE) if indices else None
        if query.mode is Mode.SPARSE and sparse is None:
            return []
        pool = max(query.candidates, query.top_k)
        # The first stage: one list (dense or sparse), or both fused.
        if query.mode is Mode.HYBRID:
            fusion = (
                Fusion.Dbsf()
                if query.fusion is FusionMethod.DBSF
                else Fusion.Rrf(k=query.rrf_k, weights=[query.dense_weight, query.sparse_weight])
            )
            # A query none of whose words the reader's chunks contain has no sparse list: the dense one stands.
            lists = [(dense, query.dense_weight), *([(sparse, query.sparse_weight)] if sparse else [])]
            if query.fusion is not FusionMethod.DBSF:
                fusion = Fusion.Rrf(k=query.rrf_k, weights=[weight for _, weight in lists])
            stage = Prefetch(
                limit=pool,
                prefetches=[Prefetch(limit=pool, query=vector, filter=scope) for vector, _ in lists],
                query=fusion,
                filter=scope,
            )
        else:
            stage = Prefetch(limit=pool, query=dense if query.mode is Mode.DENSE else sparse, filter=scope)
        if query.mmr_lambda is not None and query.dense:
            # Maximal marginal relevance over the first stage's candidates, on the dense vectors.
            final = Mmr(query.dense, lambda_=query.mmr_lambda, candidates_limit=pool, using=DENSE)
            request = QueryRequest(limit=query.top_k, prefetches=[stage], query=final, filter=scope, **_RETURN)
        else:
            request = QueryRequest(
                limit=query.top_k, prefetches=stage.prefetches, query=stage.query, filter=scope, **_RETURN
            )
        points = await asyncio.to_thread(self.shard.query, request)
        return [to_scored_chunk(query, point) for point in points]

    def _counts(self, query: SearchQuery, terms: list[int | None]) -> list[int]:
        """How many chunks the reader may see in the tenant, and how many of them contain each term."""
        scope = _scope(query.tenant, query.viewer)
        counts = []
        for term in terms:
            must = [*scope, FieldCondition(TERMS_FIELD, match=MatchValue(term))] if term is not None else scope
            counts.append(self.shard.count(CountRequest(exact=True, filter=Filter(must=must))))
        return counts

    async def sections(
        self, tenant: str, refs: list[tuple[str, str]], viewer: Viewer
    ) -> dict[tuple[str, str], list[ScoredChunk]]:
        if not refs:
            return {}
        wanted = Filter(
            must=_scope(tenant, viewer),
            should=[
                Filter(
                    must=[
                        FieldCondition("document_id", match=MatchValue(document_id)),
                        FieldCondition("section_id", match=MatchValue(section_id)),
                    ]
                )
                for document_id, section_id in refs
            ],
        )
        records, offset = [], None
        while True:
            page, offset = await asyncio.to_thread(
                self.shard.scroll, ScrollRequest(offset=offset, limit=256, filter=wanted, with_payload=True)
            )
            records.extend(page)
            if offset is None:
                return group_sections(records)

    async def delete_document(
        self, tenant: str, document_id: str, keep_revision: str = "", only_revision: str = ""
    ) -> None:
        must = [
            FieldCondition(TENANT_FIELD, match=MatchValue(tenant)),
            FieldCondition("document_id", match=MatchValue(document_id)),
        ]
        if only_revision:
            must.append(FieldCondition("revision", match=MatchValue(only_revision)))
        must_not = [FieldCondition("revision", match=MatchValue(keep_revision))] if keep_revision else None

        def write() -> None:
            with self._write_lock:
                self.shard.update(UpdateOperation.delete_points_by_filter(Filter(must=must, must_not=must_not)))
                self.shard.flush()

        await asyncio.to_thread(write)
        self._term_counts.forget(tenant)

    async def set_access(self, tenant: str, document_id: str, entries: list[str]) -> None:
        document = Filter(
            must=[
                FieldCondition(TENANT_FIELD, match=MatchValue(tenant)),
                FieldCondition("document_id", match=MatchValue(document_id)),
            ]
        )

        def write() -> None:
            with self._write_lock:
                self.shard.update(UpdateOperation.set_payload_by_filter(document, {ACCESS_FIELD: entries}))
                self.shard.flush()

        await asyncio.to_thread(write)
        self._term_counts.forget(tenant)

    async def count(self, tenant: str) -> int:
        request = CountRequest(exact=True, filter=_filter(tenant) if tenant else None)
        return await asyncio.to_thread(self.shard.count, request)

    async def close(self) -> None:
        if self._shard is not None:
            shard, self._shard = self._shard, None
            await asyncio.to_thread(lambda: (shard.flush(), shard.close()))
