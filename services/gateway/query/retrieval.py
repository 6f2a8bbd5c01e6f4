"""Retrieval: embed the text, search the tenant's chunks (hybrid, dense or sparse), re-rank with a cross-encoder
when one is configured, and grow hits to their parent sections. A stage that fails after the search falls back
(the retriever's order, the chunks alone) and says so in `fallbacks`."""

import logging

import grpc
import httpx

from ragmesh.embedder.v1 import embedder_pb2
from ragmesh.retriever.v1 import retriever_pb2
from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.identity import Principal
from services.gateway.learning.steering import UNSTEERED, Steering
from services.gateway.query.caches import RetrievalCache
from services.gateway.query.context import Passage, expand_to_sections
from services.gateway.query.rerank import Reranker
from services.gateway.query.timing import timed

log = logging.getLogger(__name__)

MODES = {
    "hybrid": retriever_pb2.SEARCH_MODE_HYBRID,
    "dense": retriever_pb2.SEARCH_MODE_DENSE,
    "sparse": retriever_pb2.SEARCH_MODE_SPARSE,
}
FUSIONS = {"rrf": retriever_pb2.FUSION_RRF, "dbsf": retriever_pb2.FUSION_DBSF}


class Retrieval:
    """The retriever-side stages, for any tenant."""

    def __init__(self, settings: GatewaySettings, downstream: Downstream) -> None:
        self._settings = settings
        self._downstream = downstream
        self._reranker = Reranker(settings)
        self._cache = RetrievalCache(downstream.cache_redis, settings.retrieval_cache_seconds)

    async def embed(self, text: str, timings: dict[str, float]) -> list[float]:
        """The query vector of `text` (the embedder caches it)."""
        return (await self.embed_many([text], timings))[0]

    async def embed_many(self, texts: list[str], timings: dict[str, float]) -> list[list[float]]:
        """The query vectors of `texts`, in one call to the embedder."""
        with timed(timings, "embed"):
            embedded = await self._downstream.embedder.Embed(
                embedder_pb2.EmbedRequest(texts=texts, kind=embedder_pb2.INPUT_KIND_QUERY),
                timeout=self._settings.retrieval_timeout_seconds,
            )
        return [list(vector.values) for vector in embedded.vectors]

    async def search(
        self,
        caller: Principal,
        text: str,
        search: retriever_pb2.SearchRequest,
        timings: dict[str, float],
        version: str = "",
        vector: list[float] | None = None,
        steering: Steering = UNSTEERED,
    ) -> tuple[list[retriever_pb2.Hit], list[float]]:
        """The hits for `text` in the chunks of the caller's tenant that the caller may see, and the text's
        query vector (as embedded: `steering` moves only what is searched with); from the retrieval cache when the
        same search ran on the same corpus `version` (which names the steering, see Steering.versioned)."""
        search.tenant, search.text = caller.tenant, text
        search.viewer.CopyFrom(caller.viewer_message())
        key = RetrievalCache.key(version, search) if version else ""
        if key:
            with timed(timings, "retrieval_cache") as span:
                cached = await self._cache.get(key)
                span.set_attribute("cache.hit", cached is not None)
            if cached is not None:
                return cached
        if vector is None:
            vector = await self.embed(text, timings)
        with timed(timings, "retrieve") as span:
            search.dense.extend(steering.apply(vector))
            found = await self._downstream.retriever.Search(search, timeout=self._settings.retrieval_timeout_seconds)
            span.set_attribute("retrieval.document_ids", list(dict.fromkeys(h.chunk.document_id for h in found.hits)))
        hits = list(found.hits)
        if key:
            self._downstream.background.spawn(self._cache.put(key, hits, vector))
        return hits, vector

    async def rerank(
        self, question: str, hits: list[retriever_pb2.Hit], timings: dict[str, float], fallbacks: list[str]
    ) -> tuple[list[retriever_pb2.Hit], bool]:
        """Cross-encoder order when a reranker is configured; the retriever's order otherwise, or if it fails.
        The flag says whether the order changed hands."""
        if not self._reranker.configured or len(hits) < 2:
            return hits, False
        try:
            with timed(timings, "rerank"):
                order = await self._reranker.order(question, [hit.chunk.text for hit in hits])
        except httpx.HTTPError as exc:
            log.warning("reranker failed (%s); keeping the retriever's order", exc)
            fallbacks.append("rerank")
            return hits, False
        return [hits[index] for index, _ in order], True

    async def sections(
        self, caller: Principal, hits: list[retriever_pb2.Hit], timings: dict[str, float], fallbacks: list[str]
    ) -> list[Passage]:
        """Parent-document retrieval: each hit's whole section (once), when it fits; the chunk alone otherwise. A
        hit that is its whole section (section_chunks 1) is not asked for."""
        refs = list(
            dict.fromkeys(
                (h.chunk.document_id, h.chunk.section_id)
                for h in hits
                if h.chunk.section_id and h.chunk.section_chunks != 1
            )
        )
        sections: dict[tuple[str, str], list[retriever_pb2.Chunk]] = {}
        with timed(timings, "expand"):
            if refs:
                try:
                    reply = await self._downstream.retriever.GetSections(
                        retriever_pb2.GetSectionsRequest(
                            tenant=caller.tenant,
                            viewer=caller.viewer_message(),
                            sections=[retriever_pb2.SectionRef(document_id=d, section_id=x) for d, x in refs],
                        ),
                        timeout=self._settings.retrieval_timeout_seconds,
                    )
                    sections = {(x.document_id, x.section_id): list(x.chunks) for x in reply.sections}
                except grpc.aio.AioRpcError as exc:
                    log.warning("parent sections unavailable (%s); using the chunks alone", exc.code().name)
                    fallbacks.append("expand")
        return expand_to_sections(hits, sections, self._settings.max_section_chars)
