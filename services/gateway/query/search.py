"""Search: the tenant's passages ranked for a query, as the retriever returns them (no threshold, no passage
budget), with the filters the request gives or self-query reads."""

from ragmesh.retriever.v1 import retriever_pb2
from services.gateway.config import GatewaySettings
from services.gateway.learning.steering import UNSTEERED, Steering
from services.gateway.models import SearchHit, SearchRequest, SearchResponse
from services.gateway.query.evidence import EvidenceGatherer, top_k
from services.gateway.query.filters import to_retriever_filter
from services.gateway.query.questions import clean_question
from services.gateway.query.retrieval import FUSIONS, MODES
from services.gateway.spending import Tab


def _hit(hit: retriever_pb2.Hit) -> SearchHit:
    return SearchHit(
        document_id=hit.chunk.document_id,
        title=hit.chunk.title,
        chunk_index=hit.chunk.chunk_index,
        heading_path=list(hit.chunk.heading_path),
        source=hit.chunk.source,
        text=hit.chunk.text,
        char_start=hit.chunk.char_start,
        char_end=hit.chunk.char_end,
        score=hit.score,
        similarity=round(hit.dense_similarity, 4),
    )


class Searcher:
    """Runs searches for any tenant with the query path's planner and retrieval."""

    def __init__(self, settings: GatewaySettings, evidence: EvidenceGatherer) -> None:
        self._settings = settings
        self._evidence = evidence

    async def run(
        self,
        tab: Tab,
        request: SearchRequest,
        version: str,
        steering: Steering = UNSTEERED,
        vector: list[float] | None = None,
    ) -> SearchResponse:
        """The hits for the tab's caller on the corpus `version` (from the retrieval cache when it has them).
        `vector`: the cleaned query's, already embedded (used unless self-query rewrote the text)."""
        s = self._settings
        query = clean_question(request.query, s.max_question_chars)
        k = top_k(request.top_k, s.default_top_k, s.max_search_top_k)
        timings: dict[str, float] = {}
        plan = await self._evidence.planner.plan(
            tab, query, request.filters, request.self_query, timings, request.self_query_llm, version
        )
        search = retriever_pb2.SearchRequest(
            top_k=k,
            filter=to_retriever_filter(plan.filters),
            mode=MODES[request.mode],
            fusion=FUSIONS[request.fusion],
            dense_weight=request.dense_weight,
            sparse_weight=request.sparse_weight,
            rrf_k=request.rrf_k,
            candidates=request.candidates or 0,
            # A search lists hits; only answers score sentences.
            omit_sentence_vectors=True,
        )
        if request.mmr_lambda is not None:
            search.mmr_lambda = request.mmr_lambda
        hits, _ = await self._evidence.retrieval.search(
            tab.caller, plan.text, search, timings, version, vector if plan.text == query else None, steering
        )
        return SearchResponse(
            filters_applied=plan.applied,
            self_query=plan.self_query_result,
            hits=[_hit(hit) for hit in hits],
            timings_ms=timings,
            usage=tab.usage,
        )
