"""The query service: answer (from the cache when the same question met the same corpus), stream, search."""

import json
from collections.abc import AsyncIterator

from ragmesh.retriever.v1 import retriever_pb2
from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.identity import Principal
from services.gateway.models import QueryRequest, QueryResponse, SearchHit, SearchRequest, SearchResponse
from services.gateway.query.cache import AnswerCache, CorpusVersions
from services.gateway.query.evidence import Evidence, EvidenceGatherer, top_k
from services.gateway.query.filters import to_retriever_filter
from services.gateway.query.generation import Generated, Generation
from services.gateway.query.questions import clean_question
from services.gateway.query.retrieval import FUSIONS, MODES
from services.gateway.query.safety import StreamSanitizer, sanitize_counted

NO_CONTEXT_ANSWER = "I could not find anything about this in your documents."
DEGRADED_ANSWER = "The answer could not be generated right now; these are the most relevant passages."
CONFUSED_NOTE = (
    "Note: several documents match this question about equally well, and none closely; they may not agree. "
    "Check the cited passages."
)


def _event(name: str, data: object) -> dict[str, str]:
    return {"event": name, "data": data if isinstance(data, str) else json.dumps(data)}


class QueryService:
    """Answers questions for any caller; holds no per-request state."""

    def __init__(self, settings: GatewaySettings, downstream: Downstream) -> None:
        self.settings = settings
        self.downstream = downstream
        self.versions = CorpusVersions(downstream.redis)
        self.evidence = EvidenceGatherer(settings, downstream, self.versions)
        self.generation = Generation(settings, downstream)
        self._cache = AnswerCache(downstream.redis, settings.answer_cache_seconds)

    async def gather(self, caller: Principal, request: QueryRequest) -> Evidence:
        return await self.evidence.gather(caller, request)

    def _response(self, evidence: Evidence, answer: str, generated: Generated | None = None, **extra) -> QueryResponse:
        # Before anything else sees it (citations, the cache, the caller): no images, no links the passages lack.
        answer = sanitize_counted(answer, evidence.allowed_urls())
        citations = evidence.citations(answer)
        if evidence.is_confused and answer:
            answer = f"{answer}\n\n{CONFUSED_NOTE}"
        if generated is not None:
            extra.update(model=generated.model, prompt_version=generated.prompt_version, usage=generated.usage)
        return QueryResponse(
            answer=answer,
            citations=citations,
            **evidence.summary(),
            **extra,
        )

    async def answer(self, caller: Principal, request: QueryRequest) -> QueryResponse:
        """The whole answer; from the cache when the same question was answered on the same corpus and prompt."""
        tenant = caller.tenant
        question = clean_question(request.question, self.settings.max_question_chars)
        version = await self.versions.current(tenant)
        prompt_version = await self.generation.prompt_version() if version and request.generate else "none"
        key = (
            AnswerCache.key(tenant, caller.viewer, version, question, request, prompt_version)
            if version and prompt_version
            else ""
        )
        if key and (cached := await self._cache.get(key, caller.viewer)) is not None:
            return cached.model_copy(update={"cached": True})
        evidence = await self.gather(caller, request)
        if evidence.no_context:
            response = self._response(evidence, NO_CONTEXT_ANSWER)
        elif not request.generate:
            response = self._response(evidence, "")
        else:
            generated = await self.generation.generate(evidence, request)
            if generated is None:
                return self._response(evidence, DEGRADED_ANSWER, degraded=True)
            response = self._response(evidence, generated.text, generated)
        if key and not evidence.fallbacks:
            await self._cache.put(key, response, evidence.access())
        return response

    async def stream(self, caller: Principal, evidence: Evidence, request: QueryRequest) -> AsyncIterator[dict]:
        """Server-sent events: `token` events with text, then `citations`, then `done` with the whole response."""
        if evidence.no_context:
            response = self._response(evidence, NO_CONTEXT_ANSWER)
            yield _event("token", {"text": NO_CONTEXT_ANSWER})
        elif not request.generate:
            response = self._response(evidence, "")
        else:
            pieces: list[str] = []
            final: Generated | None = None
            guard = StreamSanitizer(evidence.allowed_urls())
            async for item in self.generation.stream(evidence, request):
                if isinstance(item, Generated):
                    final = item
                else:
                    pieces.append(item)
                    if released := guard.feed(item):
                        yield _event("token", {"text": released})
            if released := guard.finish():
                yield _event("token", {"text": released})
            if final is None:
                response = self._response(evidence, "".join(pieces) or DEGRADED_ANSWER, degraded=True)
                if not pieces:
                    yield _event("token", {"text": DEGRADED_ANSWER})
            else:
                response = self._response(evidence, final.text, final)
        if evidence.is_confused and response.answer.endswith(CONFUSED_NOTE):
            yield _event("token", {"text": f"\n\n{CONFUSED_NOTE}"})
        yield _event("citations", [c.model_dump() for c in response.citations])
        yield _event("done", response.model_dump_json())

    async def search(self, caller: Principal, request: SearchRequest) -> SearchResponse:
        """The ranked passages, as the retriever returns them: no threshold, no passage budget."""
        s = self.settings
        query = clean_question(request.query, s.max_question_chars)
        k = top_k(request.top_k, s.default_top_k, s.max_search_top_k)
        timings: dict[str, float] = {}
        plan = await self.evidence.planner.plan(
            caller.tenant, query, request.filters, request.self_query, timings, request.self_query_llm
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
        )
        if request.mmr_lambda is not None:
            search.mmr_lambda = request.mmr_lambda
        hits, _ = await self.evidence.retrieval.search(caller, plan.text, search, timings)
        return SearchResponse(
            filters_applied=plan.applied,
            self_query=plan.self_query_result,
            hits=[
                SearchHit(
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
                for hit in hits
            ],
            timings_ms=timings,
        )
