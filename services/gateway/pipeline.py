"""The query path: validate, embed, retrieve, decide whether there is evidence, generate, cite, cache."""

import hashlib
import json
import logging
import re
import time
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import redis.asyncio as redis
from fastapi import HTTPException

from ragmesh.embedder.v1 import embedder_pb2
from ragmesh.generator.v1 import generator_pb2
from ragmesh.ingest.v1 import ingest_pb2
from ragmesh.retriever.v1 import retriever_pb2
from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.models import (
    Citation,
    FilterSpec,
    FilterValues,
    QueryRequest,
    QueryResponse,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SelfQueryResult,
    Usage,
)
from services.gateway.self_query import (
    FieldFilter,
    FilterError,
    SchemaField,
    SelfQuery,
    SelfQueryParser,
    check_filter,
    schema_fields,
)

log = logging.getLogger(__name__)

PROMPT_VERSION = "grounded-v1"
NO_CONTEXT_ANSWER = "I could not find anything about this in your documents."
DEGRADED_ANSWER = "The answer could not be generated right now; these are the most relevant passages."
_MODES = {
    "hybrid": retriever_pb2.SEARCH_MODE_HYBRID,
    "dense": retriever_pb2.SEARCH_MODE_DENSE,
    "sparse": retriever_pb2.SEARCH_MODE_SPARSE,
}
_FUSIONS = {"rrf": retriever_pb2.FUSION_RRF, "dbsf": retriever_pb2.FUSION_DBSF}
_MARKER = re.compile(r"\[(\d{1,2})\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    (
        "the and for are was were that this with from have has had not but its their they them into "
        "than then what when where which who why how does did can could would should will about also been being"
    ).split()
)
# Share of the answer's content words a passage must hold to count as supporting it.
SUPPORT_THRESHOLD = 0.5
_CONTROL = {"Cc", "Cf"}


def corpus_key(tenant: str) -> str:
    """Redis key of the tenant's corpus version: bumped on every change, part of every cache key."""
    return f"ragmesh:corpus:{tenant}"


def clean_question(question: str, max_chars: int) -> str:
    """The question without control characters; 422 when empty or too long."""
    cleaned = "".join(
        " " if ch in "\t\n\r" else ch for ch in question if ch in "\t\n\r" or unicodedata.category(ch) not in _CONTROL
    ).strip()
    if not cleaned:
        raise HTTPException(422, "question is empty")
    if len(cleaned) > max_chars:
        raise HTTPException(422, f"question is {len(cleaned)} characters long; the limit is {max_chars}")
    return cleaned


# Fields every chunk carries; anything else must be an attribute the tenant's schema declares.
BUILTIN_FILTERS = ("document_id", "source", "tags", "licence", "content_type", "title")


def _field_filter(name: str, value: str | int | float | list[str] | FilterValues) -> FieldFilter:
    if isinstance(value, FilterValues):
        return FieldFilter(any_of=list(value.any_of), none_of=list(value.none_of), gte=value.gte, lte=value.lte)
    if isinstance(value, int | float):
        return FieldFilter(gte=float(value), lte=float(value))
    return FieldFilter(any_of=[value] if isinstance(value, str) else list(value))


def explicit_filters(filters: FilterSpec, fields: list[SchemaField]) -> dict[str, FieldFilter]:
    """The caller's filters, checked: a built-in field takes values, a declared attribute what its schema
    allows; anything else is a 422 that lists what may be filtered on."""
    declared = {spec.name: spec for spec in fields}
    checked: dict[str, FieldFilter] = {}
    for name, value in filters.items():
        wanted = _field_filter(name, value)
        if name in BUILTIN_FILTERS:
            if wanted.gte is not None or wanted.lte is not None:
                raise HTTPException(422, f"filter on {name!r}: gte/lte apply to numeric attributes only")
            if not wanted.any_of and not wanted.none_of:
                raise HTTPException(422, f"filter on {name!r} has no values")
        elif name in declared:
            spec = declared[name]
            if spec.numeric and (wanted.any_of or wanted.none_of):
                raise HTTPException(422, f"{name!r} is a {spec.type}: filter it with a number, gte or lte")
            try:
                check_filter(spec, wanted)
            except FilterError as exc:
                raise HTTPException(422, str(exc)) from exc
        else:
            known = ", ".join([*BUILTIN_FILTERS, *declared])
            raise HTTPException(422, f"unknown filter field {name!r}; filterable fields are: {known}")
        checked[name] = wanted
    return checked


def to_retriever_filter(filters: dict[str, FieldFilter]) -> retriever_pb2.Filter:
    conditions = []
    for name, wanted in filters.items():
        condition = retriever_pb2.Condition(
            field=name if name in BUILTIN_FILTERS else f"attributes.{name}",
            any_of=wanted.any_of,
            none_of=wanted.none_of,
        )
        if wanted.gte is not None:
            condition.gte = wanted.gte
        if wanted.lte is not None:
            condition.lte = wanted.lte
        conditions.append(condition)
    return retriever_pb2.Filter(must=conditions)


@dataclass
class Plan:
    """What retrieval runs with: the text searched and every filter, given or read from the question."""

    text: str
    filters: dict[str, FieldFilter]
    self_query: SelfQuery | None = None

    @property
    def applied(self) -> dict[str, dict[str, object]]:
        return {name: wanted.as_dict() for name, wanted in self.filters.items()}

    @property
    def self_query_result(self) -> SelfQueryResult | None:
        if self.self_query is None or not self.self_query.filters:
            return None
        return SelfQueryResult(
            filters=self.self_query.as_dict(), query=self.self_query.query, method=self.self_query.method
        )


def _content_words(text: str) -> set[str]:
    return {w for w in (m.lower() for m in _WORD.findall(text)) if len(w) > 2 and w not in _STOPWORDS}


def support(answer: str, passage: str) -> float:
    """Share of the answer's content words that the passage contains: 1.0 means fully grounded in it."""
    said = _content_words(_MARKER.sub(" ", answer))
    return round(len(said & _content_words(passage)) / len(said), 4) if said else 0.0


def _quote(text: str, question: str) -> str:
    """The passage's sentence sharing the most words with the question."""
    asked = {w.lower() for w in _WORD.findall(question) if len(w) > 2}
    sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    if not sentences:
        return text[:300]
    return max(sentences, key=lambda s: len(asked & {w.lower() for w in _WORD.findall(s)}))[:500]


@dataclass
class Evidence:
    """What retrieval found, and what the generator will be shown."""

    question: str
    plan: Plan | None = None
    hits: list[retriever_pb2.Hit] = field(default_factory=list)
    confidence: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def no_context(self) -> bool:
        return not self.hits

    def passages(self) -> list[generator_pb2.Passage]:
        return [
            generator_pb2.Passage(index=i, title=hit.chunk.title, text=hit.chunk.text)
            for i, hit in enumerate(self.hits, start=1)
        ]

    def citations(self, answer: str) -> list[Citation]:
        """Passages the answer cites by [n]; for a model that writes no markers, the passages that support it."""
        supports = [support(answer, hit.chunk.text) for hit in self.hits]
        cited = {int(n) for n in _MARKER.findall(answer)} & set(range(1, len(self.hits) + 1))
        if not cited and supports:
            cited = {i for i, share in enumerate(supports, start=1) if share >= SUPPORT_THRESHOLD}
        return [
            Citation(
                index=i,
                cited=i in cited,
                document_id=hit.chunk.document_id,
                title=hit.chunk.title,
                chunk_index=hit.chunk.chunk_index,
                heading_path=list(hit.chunk.heading_path),
                source=hit.chunk.source,
                quote=_quote(hit.chunk.text, self.question),
                text=hit.chunk.text,
                char_start=hit.chunk.char_start,
                char_end=hit.chunk.char_end,
                score=round(hit.dense_similarity, 4),
                support=supports[i - 1],
            )
            for i, hit in enumerate(self.hits, start=1)
            # Cited passages always; uncited ones too when the answer cites nothing, so sources are never lost.
            if i in cited or not cited
        ]


class QueryPipeline:
    """Answers questions for one tenant at a time; holds no per-request state."""

    def __init__(self, settings: GatewaySettings, downstream: Downstream) -> None:
        self._settings = settings
        self._downstream = downstream
        self._parser = SelfQueryParser()
        # Each tenant's schema as of a corpus version (a schema change bumps the version too).
        self._schemas: dict[str, tuple[str, list[SchemaField]]] = {}

    async def schema(self, tenant: str) -> list[SchemaField]:
        """The tenant's declared metadata fields with their known values; empty when it declares none."""
        version = await self._corpus_version(tenant)
        cached = self._schemas.get(tenant)
        if version and cached and cached[0] == version:
            return cached[1]
        reply = await self._downstream.ingest.GetMetadataSchema(
            ingest_pb2.GetMetadataSchemaRequest(tenant=tenant), timeout=self._settings.retrieval_timeout_seconds
        )
        fields = schema_fields(reply)
        if version:
            self._schemas[tenant] = (version, fields)
        return fields

    async def plan(self, tenant: str, question: str, filters: FilterSpec, self_query: bool) -> Plan:
        """Check the caller's filters and, unless turned off, read more from the question."""
        needs_schema = self_query or any(name not in BUILTIN_FILTERS for name in filters)
        try:
            fields = await self.schema(tenant) if needs_schema else []
        except grpc.aio.AioRpcError as exc:
            if any(name not in BUILTIN_FILTERS for name in filters):
                raise HTTPException(
                    503, "the metadata schema is unavailable; attribute filters cannot be checked"
                ) from exc
            log.warning("metadata schema unavailable (%s); answering without self-query", exc.code().name)
            fields = []
        given = explicit_filters(filters, fields)
        if not self_query or not fields:
            return Plan(text=question, filters=given)
        extracted, _ = self._parser.parse(question, fields)
        extracted.filters = {name: f for name, f in extracted.filters.items() if name not in given}
        plan = Plan(text=extracted.query if extracted.filters else question, filters={**extracted.filters, **given})
        plan.self_query = extracted
        return plan

    async def _corpus_version(self, tenant: str) -> str:
        try:
            return (await self._downstream.redis.get(corpus_key(tenant)) or b"0").decode()
        except redis.RedisError:
            return ""

    def _cache_key(self, tenant: str, version: str, question: str, request: QueryRequest) -> str:
        identity = json.dumps(
            [
                tenant,
                version,
                " ".join(question.lower().split()),
                request.model_dump(mode="json", exclude={"stream"}),
                PROMPT_VERSION,
            ],
            sort_keys=True,
        )
        return "ragmesh:answer:" + hashlib.sha256(identity.encode()).hexdigest()

    def _top_k(self, top_k: int | None, limit: int) -> int:
        top_k = self._settings.default_top_k if top_k is None else top_k
        if not 1 <= top_k <= limit:
            raise HTTPException(422, f"top_k must be between 1 and {limit}, got {top_k}")
        return top_k

    async def _retrieve(
        self, tenant: str, text: str, search: retriever_pb2.SearchRequest, timings: dict[str, float]
    ) -> list[retriever_pb2.Hit]:
        """Embed the text and search the tenant's chunks with it."""
        started = time.perf_counter()
        embedded = await self._downstream.embedder.Embed(
            embedder_pb2.EmbedRequest(texts=[text], kind=embedder_pb2.INPUT_KIND_QUERY),
            timeout=self._settings.retrieval_timeout_seconds,
        )
        timings["embed"] = round((time.perf_counter() - started) * 1000, 2)
        started = time.perf_counter()
        search.tenant, search.text = tenant, text
        search.dense.extend(embedded.vectors[0].values)
        found = await self._downstream.retriever.Search(search, timeout=self._settings.retrieval_timeout_seconds)
        timings["retrieve"] = round((time.perf_counter() - started) * 1000, 2)
        return list(found.hits)

    async def search(self, tenant: str, request: SearchRequest) -> SearchResponse:
        """The ranked passages, as the retriever returns them: no threshold, no passage budget."""
        query = clean_question(request.query, self._settings.max_question_chars)
        top_k = self._top_k(request.top_k, self._settings.max_search_top_k)
        plan = await self.plan(tenant, query, request.filters, request.self_query)
        search = retriever_pb2.SearchRequest(
            top_k=top_k,
            filter=to_retriever_filter(plan.filters),
            mode=_MODES[request.mode],
            fusion=_FUSIONS[request.fusion],
            dense_weight=request.dense_weight,
            sparse_weight=request.sparse_weight,
            rrf_k=request.rrf_k,
            candidates=request.candidates or 0,
        )
        if request.mmr_lambda is not None:
            search.mmr_lambda = request.mmr_lambda
        timings: dict[str, float] = {}
        hits = await self._retrieve(tenant, plan.text, search, timings)
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

    async def gather(self, tenant: str, request: QueryRequest) -> Evidence:
        """Validate, embed and retrieve; keep the hits that clear the relevance threshold."""
        s = self._settings
        evidence = Evidence(question=clean_question(request.question, s.max_question_chars))
        top_k = self._top_k(request.top_k, s.max_top_k)
        evidence.plan = await self.plan(tenant, evidence.question, request.filters, request.self_query)
        search = retriever_pb2.SearchRequest(
            top_k=top_k, filter=to_retriever_filter(evidence.plan.filters), mode=_MODES[request.mode]
        )
        found = await self._retrieve(tenant, evidence.plan.text, search, evidence.timings_ms)
        relevant = [hit for hit in found if hit.dense_similarity >= s.relevance_threshold]
        budget, kept = s.max_context_chars, []
        for hit in relevant[: s.max_passages]:
            if kept and len(hit.chunk.text) > budget:
                break
            kept.append(hit)
            budget -= len(hit.chunk.text)
        evidence.hits = kept
        if kept:
            best = max(hit.dense_similarity for hit in kept)
            span = max(s.confident_similarity - s.relevance_threshold, 1e-6)
            evidence.confidence = round(min(1.0, max(0.0, (best - s.relevance_threshold) / span)), 4)
        return evidence

    def _request(self, evidence: Evidence, request: QueryRequest) -> generator_pb2.GenerateRequest:
        return generator_pb2.GenerateRequest(
            question=evidence.question, passages=evidence.passages(), max_tokens=request.max_tokens or 0
        )

    def _response(self, evidence: Evidence, answer: str, **extra: object) -> QueryResponse:
        return QueryResponse(
            answer=answer,
            citations=evidence.citations(answer),
            confidence=evidence.confidence,
            no_context=evidence.no_context,
            prompt_version=PROMPT_VERSION,
            timings_ms=evidence.timings_ms,
            filters_applied=evidence.plan.applied if evidence.plan else {},
            self_query=evidence.plan.self_query_result if evidence.plan else None,
            **extra,
        )

    async def answer(self, tenant: str, request: QueryRequest) -> QueryResponse:
        """The whole answer, from the cache when the same question was answered on the same corpus."""
        question = clean_question(request.question, self._settings.max_question_chars)
        version = await self._corpus_version(tenant)
        key = self._cache_key(tenant, version, question, request) if version else ""
        if key:
            try:
                cached = await self._downstream.redis.get(key)
                if cached:
                    return QueryResponse.model_validate_json(cached).model_copy(update={"cached": True})
            except redis.RedisError:
                log.warning("answer cache unavailable; answering without it")
        evidence = await self.gather(tenant, request)
        if evidence.no_context:
            response = self._response(evidence, NO_CONTEXT_ANSWER)
        elif not request.generate:
            response = self._response(evidence, "")
        else:
            started = time.perf_counter()
            try:
                generated = await self._downstream.generator.Generate(
                    self._request(evidence, request), timeout=self._settings.generation_timeout_seconds
                )
            except grpc.aio.AioRpcError as exc:
                log.warning("generation failed (%s); answering with retrieval only", exc.code().name)
                return self._response(evidence, DEGRADED_ANSWER, degraded=True)
            evidence.timings_ms["generate"] = round((time.perf_counter() - started) * 1000, 2)
            response = self._response(
                evidence,
                generated.text,
                model=generated.model,
                usage=Usage(
                    prompt_tokens=generated.usage.prompt_tokens,
                    completion_tokens=generated.usage.completion_tokens,
                    cost_usd=generated.usage.cost_usd,
                ),
            )
        if key:
            try:
                await self._downstream.redis.set(
                    key, response.model_dump_json(), ex=self._settings.answer_cache_seconds
                )
            except redis.RedisError:
                log.warning("answer cache unavailable; not stored")
        return response

    async def stream(self, tenant: str, evidence: Evidence, request: QueryRequest) -> AsyncIterator[dict[str, str]]:
        """Server-sent events: `token` events with text, then `citations`, then `done` with the whole response."""
        if evidence.no_context:
            response = self._response(evidence, NO_CONTEXT_ANSWER)
            yield {"event": "token", "data": json.dumps({"text": NO_CONTEXT_ANSWER})}
        elif not request.generate:
            response = self._response(evidence, "")
        else:
            pieces: list[str] = []
            final: generator_pb2.GenerateResponse | None = None
            started = time.perf_counter()
            try:
                call = self._downstream.generator.GenerateStream(
                    self._request(evidence, request), timeout=self._settings.generation_timeout_seconds
                )
                async for event in call:
                    if event.HasField("final"):
                        final = event.final
                    else:
                        pieces.append(event.delta)
                        yield {"event": "token", "data": json.dumps({"text": event.delta})}
            except grpc.aio.AioRpcError as exc:
                log.warning("streamed generation failed (%s); answering with retrieval only", exc.code().name)
            evidence.timings_ms["generate"] = round((time.perf_counter() - started) * 1000, 2)
            if final is None:
                response = self._response(evidence, "".join(pieces) or DEGRADED_ANSWER, degraded=True)
                if not pieces:
                    yield {"event": "token", "data": json.dumps({"text": DEGRADED_ANSWER})}
            else:
                usage = Usage(
                    prompt_tokens=final.usage.prompt_tokens,
                    completion_tokens=final.usage.completion_tokens,
                    cost_usd=final.usage.cost_usd,
                )
                response = self._response(evidence, final.text, model=final.model, usage=usage)
        yield {"event": "citations", "data": json.dumps([c.model_dump() for c in response.citations])}
        yield {"event": "done", "data": response.model_dump_json()}
