"""The production backend: a Qdrant server or cluster through qdrant-client.

With no URL it runs qdrant-client's local mode on disk, which exercises this same code path in tests.
"""

import asyncio
import warnings
from pathlib import Path

from qdrant_client import AsyncQdrantClient, models

from services.retriever.config import RetrieverSettings
from services.retriever.index import (
    DENSE,
    KEYWORD_INDEXES,
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


def _sparse(vector: object) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


def _scope(tenant: str, viewer: Viewer | None) -> list[models.Condition]:
    """The tenant, and (unless the viewer sees everything) the access entries that let the viewer in."""
    must: list[models.Condition] = [models.FieldCondition(key=TENANT_FIELD, match=models.MatchValue(value=tenant))]
    entries = viewer.entries() if viewer is not None else None
    if entries is not None:
        # Chunks indexed before access lists existed carry none: they stay open to the whole tenant.
        must.append(
            models.Filter(
                should=[
                    models.FieldCondition(key=ACCESS_FIELD, match=models.MatchAny(any=entries)),
                    models.IsEmptyCondition(is_empty=models.PayloadField(key=ACCESS_FIELD)),
                ]
            )
        )
    return must


def _filter(tenant: str, query: SearchQuery | None = None) -> models.Filter:
    must = _scope(tenant, query.viewer if query else None)
    must_not: list[models.Condition] = []
    for condition in query.conditions if query else []:
        if condition.any_of:
            must.append(models.FieldCondition(key=condition.field, match=models.MatchAny(any=list(condition.any_of))))
        if condition.none_of:
            must_not.append(
                models.FieldCondition(key=condition.field, match=models.MatchAny(any=list(condition.none_of)))
            )
        if condition.has_range:
            must.append(
                models.FieldCondition(key=condition.field, range=models.Range(gte=condition.gte, lte=condition.lte))
            )
    return models.Filter(must=must, must_not=must_not or None)


class QdrantServerIndex:
    """One collection with the tenant as an `is_tenant` keyword index; every call filters on it."""

    backend = "qdrant-client"

    def __init__(self, settings: RetrieverSettings) -> None:
        self._settings = settings
        self._collection = settings.collection
        self._lexical = LexicalEncoder()
        self._term_counts = TermCounts(settings.idf_cache_seconds)
        if settings.qdrant_url:
            key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
            self._client = AsyncQdrantClient(url=settings.qdrant_url, api_key=key)
        else:
            path = Path(settings.data_dir) / "qdrant-local"
            path.mkdir(parents=True, exist_ok=True)
            self._client = AsyncQdrantClient(path=str(path))

    async def warm_up(self) -> None:
        if not await self._client.collection_exists(self._collection):
            await self._client.create_collection(
                self._collection,
                vectors_config={
                    DENSE: models.VectorParams(size=self._settings.dense_dimension, distance=models.Distance.COSINE)
                },
                # No IDF modifier: the IDF is the tenant's, computed at query time (services/retriever/index.py).
                sparse_vectors_config={SPARSE: models.SparseVectorParams()},
            )
        else:
            info = await self._client.get_collection(self._collection)
            if SPARSE not in (info.config.params.sparse_vectors or {}):
                raise RuntimeError(
                    f"collection {self._collection!r} predates per-tenant BM25 IDF (it has no {SPARSE!r} vector): "
                    "point RAGMESH_RETRIEVER_COLLECTION at a new collection and ingest the documents again"
                )
        # Creating an index that exists is a no-op, so a collection made by an older version gains new ones.
        with warnings.catch_warnings():
            # Local mode says payload indexes do nothing there; a server uses them, so they are still created.
            warnings.filterwarnings("ignore", message="Payload indexes have no effect")
            await self._client.create_payload_index(
                self._collection,
                TENANT_FIELD,
                models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
            )
            for name in KEYWORD_INDEXES:
                await self._client.create_payload_index(self._collection, name, models.PayloadSchemaType.KEYWORD)
            await self._client.create_payload_index(
                self._collection,
                TERMS_FIELD,
                models.IntegerIndexParams(type=models.IntegerIndexType.INTEGER, lookup=True, range=False),
            )

    async def upsert(self, tenant: str, chunks: list[ChunkRecord]) -> int:
        points = []
        for chunk in chunks:
            sparse = self._lexical.document(chunk.lexical_text)
            points.append(
                models.PointStruct(
                    id=chunk.id,
                    vector={DENSE: chunk.dense, SPARSE: _sparse(sparse)},
                    payload={**chunk.payload, TENANT_FIELD: tenant, TERMS_FIELD: list(sparse.indices)},
                )
            )
        # wait=True: acknowledged only once applied.
        await self._client.upsert(self._collection, points=points, wait=True)
        self._term_counts.forget(tenant)
        return len(points)

    async def search(self, query: SearchQuery) -> list[ScoredChunk]:
        validate_conditions(query.conditions)
        scope = _filter(query.tenant, query)
        terms = list(self._lexical.query(query.text).indices) if query.mode is not Mode.DENSE else []
        indices, weights = await tenant_weights(query, terms, self._term_counts, lambda ask: self._counts(query, ask))
        sparse = models.SparseVector(indices=indices, values=weights) if indices else None
        if query.mode is Mode.SPARSE and sparse is None:
            return []
        pool = max(query.candidates, query.top_k)
        # The first stage as a prefetch. The tenant filter goes into every prefetch: local mode has ignored
        # a top-level filter on fusion queries (qdrant-client issue 1372); the tenant boundary must not
        # depend on that.
        if query.mode is Mode.HYBRID:
            fusion = (
                models.FusionQuery(fusion=models.Fusion.DBSF)
                if query.fusion is FusionMethod.DBSF
                else models.RrfQuery(rrf=models.Rrf(k=query.rrf_k, weights=[query.dense_weight, query.sparse_weight]))
            )
            # A query none of whose words the reader's chunks contain has no sparse list: the dense one stands.
            lists = [
                (query.dense, DENSE, query.dense_weight),
                *([(sparse, SPARSE, query.sparse_weight)] if sparse else []),
            ]
            if query.fusion is not FusionMethod.DBSF:
                fusion = models.RrfQuery(rrf=models.Rrf(k=query.rrf_k, weights=[weight for *_, weight in lists]))
            stage = models.Prefetch(
                prefetch=[
                    models.Prefetch(query=vector, using=using, filter=scope, limit=pool) for vector, using, _ in lists
                ],
                query=fusion,
                filter=scope,
                limit=pool,
            )
        elif query.mode is Mode.DENSE:
            stage = models.Prefetch(query=query.dense, using=DENSE, filter=scope, limit=pool)
        else:
            stage = models.Prefetch(query=sparse, using=SPARSE, filter=scope, limit=pool)
        common = {"limit": query.top_k, "query_filter": scope, "with_payload": True, "with_vectors": [DENSE]}
        if query.mmr_lambda is not None and query.dense:
            # Qdrant's MMR takes diversity, the complement of lambda.
            mmr = models.Mmr(diversity=1.0 - query.mmr_lambda, candidates_limit=pool)
            response = await self._client.query_points(
                self._collection,
                prefetch=[stage],
                query=models.NearestQuery(nearest=query.dense, mmr=mmr),
                using=DENSE,
                **common,
            )
        else:
            response = await self._client.query_points(
                self._collection, prefetch=stage.prefetch, query=stage.query, using=stage.using, **common
            )
        return [to_scored_chunk(query, point) for point in response.points]

    async def _counts(self, query: SearchQuery, terms: list[int | None]) -> list[int]:
        """How many chunks the reader may see in the tenant, and how many of them contain each term."""
        scope = _scope(query.tenant, query.viewer)

        async def count(term: int | None) -> int:
            must = (
                [*scope, models.FieldCondition(key=TERMS_FIELD, match=models.MatchValue(value=term))]
                if term is not None
                else scope
            )
            return (await self._client.count(self._collection, count_filter=models.Filter(must=must), exact=True)).count

        return list(await asyncio.gather(*(count(term) for term in terms)))

    async def sections(
        self, tenant: str, refs: list[tuple[str, str]], viewer: Viewer
    ) -> dict[tuple[str, str], list[ScoredChunk]]:
        if not refs:
            return {}
        wanted = models.Filter(
            must=_scope(tenant, viewer),
            should=[
                models.Filter(
                    must=[
                        models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id)),
                        models.FieldCondition(key="section_id", match=models.MatchValue(value=section_id)),
                    ]
                )
                for document_id, section_id in refs
            ],
        )
        records, offset = [], None
        while True:
            page, offset = await self._client.scroll(
                self._collection, scroll_filter=wanted, limit=256, offset=offset, with_payload=True
            )
            records.extend(page)
            if offset is None:
                return group_sections(records)

    async def delete_document(
        self, tenant: str, document_id: str, keep_revision: str = "", only_revision: str = ""
    ) -> None:
        must = [
            models.FieldCondition(key=TENANT_FIELD, match=models.MatchValue(value=tenant)),
            models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id)),
        ]
        if only_revision:
            must.append(models.FieldCondition(key="revision", match=models.MatchValue(value=only_revision)))
        must_not = (
            [models.FieldCondition(key="revision", match=models.MatchValue(value=keep_revision))]
            if keep_revision
            else None
        )
        await self._client.delete(
            self._collection,
            points_selector=models.FilterSelector(filter=models.Filter(must=must, must_not=must_not)),
            wait=True,
        )
        self._term_counts.forget(tenant)

    async def set_access(self, tenant: str, document_id: str, entries: list[str]) -> None:
        document = models.Filter(
            must=[
                models.FieldCondition(key=TENANT_FIELD, match=models.MatchValue(value=tenant)),
                models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id)),
            ]
        )
        await self._client.set_payload(self._collection, payload={ACCESS_FIELD: entries}, points=document, wait=True)
        self._term_counts.forget(tenant)

    async def count(self, tenant: str) -> int:
        result = await self._client.count(
            self._collection, count_filter=_filter(tenant) if tenant else None, exact=True
        )
        return result.count

    async def close(self) -> None:
        await self._client.close()
