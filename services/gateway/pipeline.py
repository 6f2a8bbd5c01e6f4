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
import httpx
import redis.asyncio as redis
from fastapi import HTTPException

from ragmesh.embedder.v1 import embedder_pb2
from ragmesh.generator.v1 import generator_pb2
from ragmesh.ingest.v1 import ingest_pb2
from ragmesh.retriever.v1 import retriever_pb2
from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.context import (
    EXTRACT_EXAMPLES,
    EXTRACT_INSTRUCTION,
    Passage,
    expand_to_sections,
    fit_budget,
    keep_chosen,
    keep_relevant,
    numbered,
    sentence_schema,
)
from services.gateway.models import (
    Citation,
    ContextStats,
    FilterSpec,
    FilterValues,
    QueryRequest,
    QueryResponse,
    Quote,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SelfQueryResult,
    Usage,
)
from services.gateway.rerank import Reranker
from services.gateway.self_query import (
    FieldFilter,
    FilterError,
    SchemaField,
    SelfQuery,
    SelfQueryParser,
    check_filter,
    grounded,
    llm_task,
    schema_fields,
    validate_extracted,
)

log = logging.getLogger(__name__)

PROMPT_VERSION = "grounded-v1"
NO_CONTEXT_ANSWER = "I could not find anything about this in your documents."
DEGRADED_ANSWER = "The answer could not be generated right now; these are the most relevant passages."
CONFUSED_NOTE = (
    "Note: several documents match this question about equally well, and none closely; they may not agree. "
    "Check the cited passages."
)
_MODES = {
    "hybrid": retriever_pb2.SEARCH_MODE_HYBRID,
    "dense": retriever_pb2.SEARCH_MODE_DENSE,
    "sparse": retriever_pb2.SEARCH_MODE_SPARSE,
}
_FUSIONS = {"rrf": retriever_pb2.FUSION_RRF, "dbsf": retriever_pb2.FUSION_DBSF}
_MARKER = re.compile(r"\[(\d{1,2})\]")
_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    (
        "the and for are was were that this with from have has had not but its their they them into "
        "than then what when where which who why how does did can could would should will about also been being"
    ).split()
)
_EMBED_BATCH = 256
_COUNT_BATCH = 512
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


def _quote(passage: Passage, question: str) -> str:
    """The passage's sentence most similar to the question (by embedding when compression scored them, else by
    shared words)."""
    if not passage.sentences:
        return ""
    if all(sentence.similarity is not None for sentence in passage.sentences):
        return max(passage.sentences, key=lambda s: s.similarity).text[:500]
    asked = {w.lower() for w in _WORD.findall(question) if len(w) > 2}
    return max(passage.sentences, key=lambda s: len(asked & {w.lower() for w in _WORD.findall(s.text)})).text[:500]


def _ambiguous(hits: list[retriever_pb2.Hit], confident: float, margin: float) -> bool:
    """Retrieval is ambiguous when the two best documents match about equally (within `margin`) and neither
    matches confidently: the question may be about either, and they may not agree."""
    best: dict[str, float] = {}
    for hit in hits:
        best[hit.chunk.document_id] = max(best.get(hit.chunk.document_id, -1.0), hit.dense_similarity)
    top = sorted(best.values(), reverse=True)[:2]
    return len(top) == 2 and top[0] - top[1] <= margin and top[0] < confident


@dataclass
class Evidence:
    """What retrieval found, and what the generator will be shown."""

    question: str
    plan: Plan | None = None
    passages: list[Passage] = field(default_factory=list)
    confidence: float = 0.0
    is_confused: bool = False
    context: ContextStats = field(default_factory=ContextStats)
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Stages that failed and fell back (reranker, parent sections, LLM compression): such an answer is served
    # but not cached, so the next ask gets the whole pipeline once it is back.
    fallbacks: list[str] = field(default_factory=list)

    @property
    def no_context(self) -> bool:
        return not self.passages

    def generator_passages(self) -> list[generator_pb2.Passage]:
        return [
            generator_pb2.Passage(index=i, title=passage.title, text=passage.text)
            for i, passage in enumerate(self.passages, start=1)
        ]

    def citations(self, answer: str) -> list[Citation]:
        """Passages the answer cites by [n]; for a model that writes no markers, the passages that support it."""
        supports = [support(answer, passage.text) for passage in self.passages]
        cited = {int(n) for n in _MARKER.findall(answer)} & set(range(1, len(self.passages) + 1))
        if not cited and supports:
            cited = {i for i, share in enumerate(supports, start=1) if share >= SUPPORT_THRESHOLD}
        return [
            Citation(
                index=i,
                cited=i in cited,
                document_id=passage.document_id,
                title=passage.title,
                chunk_index=passage.chunk_index,
                heading_path=passage.heading_path,
                source=passage.source,
                quote=_quote(passage, self.question),
                quotes=[
                    Quote(
                        text=sentence.text,
                        char_start=sentence.char_start,
                        char_end=sentence.char_end,
                        similarity=None if sentence.similarity is None else round(sentence.similarity, 4),
                    )
                    for sentence in passage.sentences
                ],
                text=passage.text,
                char_start=passage.char_start,
                char_end=passage.char_end,
                score=round(passage.similarity, 4),
                support=supports[i - 1],
            )
            for i, passage in enumerate(self.passages, start=1)
            # Cited passages always; uncited ones too when the answer cites nothing, so sources are never lost.
            if i in cited or not cited
        ]


class QueryPipeline:
    """Answers questions for one tenant at a time; holds no per-request state."""

    def __init__(self, settings: GatewaySettings, downstream: Downstream) -> None:
        self._settings = settings
        self._downstream = downstream
        self._parser = SelfQueryParser()
        self._reranker = Reranker(settings.reranker_url, settings.reranker_timeout_seconds)
        # Each tenant's schema as of a corpus version (a schema change bumps the version too).
        self._schemas: dict[str, tuple[str, list[SchemaField]]] = {}

    @property
    def settings(self) -> GatewaySettings:
        return self._settings

    @property
    def downstream(self) -> Downstream:
        return self._downstream

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

    async def plan(
        self,
        tenant: str,
        question: str,
        filters: FilterSpec,
        self_query: bool,
        timings: dict[str, float] | None = None,
        llm: bool | None = None,
    ) -> Plan:
        """Check the caller's filters and, unless turned off, read more from the question: the parser first, the
        LLM only for fields the question names that the parser could not fill."""
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
        extracted, unresolved = self._parser.parse(question, fields)
        extracted.filters = {name: f for name, f in extracted.filters.items() if name not in given}
        unresolved = [spec for spec in unresolved if spec.name not in given]
        if unresolved and (self._settings.self_query_llm if llm is None else llm):
            started = time.perf_counter()
            added = await self._llm_filters(question, unresolved)
            if timings is not None:
                timings["self_query_llm"] = round((time.perf_counter() - started) * 1000, 2)
            added = {name: f for name, f in added.items() if name not in extracted.filters}
            if added:
                extracted.filters.update(added)
                extracted.method = "parser+llm"
        plan = Plan(text=extracted.query if extracted.filters else question, filters={**extracted.filters, **given})
        plan.self_query = extracted
        return plan

    async def _llm_filters(self, question: str, fields: list[SchemaField]) -> dict[str, FieldFilter]:
        """Filters on `fields` from the generator's Extract (JSON held to a schema built from the tenant's), then
        validated again here; nothing when the generator fails: the parser's filters stand alone."""
        task = llm_task(fields)
        if not task.schema["properties"]:
            return {}
        try:
            reply = await self._downstream.generator.Extract(
                generator_pb2.ExtractRequest(
                    instruction=task.instruction,
                    text=question,
                    json_schema=json.dumps(task.schema),
                    examples=[generator_pb2.ExtractExample(text=t, json=j) for t, j in task.examples],
                    max_tokens=120,
                ),
                timeout=self._settings.self_query_llm_timeout_seconds,
            )
            return grounded(validate_extracted(json.loads(reply.json), fields), question)
        except (grpc.aio.AioRpcError, ValueError) as exc:
            log.warning("self-query LLM unavailable (%s); using the parser's filters", exc)
            return {}

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
    ) -> tuple[list[retriever_pb2.Hit], list[float]]:
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
        return list(found.hits), list(embedded.vectors[0].values)

    async def search(self, tenant: str, request: SearchRequest) -> SearchResponse:
        """The ranked passages, as the retriever returns them: no threshold, no passage budget."""
        query = clean_question(request.query, self._settings.max_question_chars)
        top_k = self._top_k(request.top_k, self._settings.max_search_top_k)
        timings: dict[str, float] = {}
        plan = await self.plan(tenant, query, request.filters, request.self_query, timings, request.self_query_llm)
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
        hits, _ = await self._retrieve(tenant, plan.text, search, timings)
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
        """Validate, plan, embed and retrieve; re-rank; keep the hits that clear the relevance threshold; grow
        them to their sections; compress to the sentences that bear on the question, within the token budget."""
        s = self._settings
        evidence = Evidence(question=clean_question(request.question, s.max_question_chars))
        top_k = self._top_k(request.top_k, s.max_top_k)
        evidence.plan = await self.plan(
            tenant, evidence.question, request.filters, request.self_query, evidence.timings_ms, request.self_query_llm
        )
        search = retriever_pb2.SearchRequest(
            top_k=top_k, filter=to_retriever_filter(evidence.plan.filters), mode=_MODES[request.mode]
        )
        found, vector = await self._retrieve(tenant, evidence.plan.text, search, evidence.timings_ms)
        found = await self._rerank(evidence, found)
        relevant = [hit for hit in found if hit.dense_similarity >= s.relevance_threshold][: s.max_passages]
        if not relevant:
            return evidence
        best = max(hit.dense_similarity for hit in relevant)
        span = max(s.confident_similarity - s.relevance_threshold, 1e-6)
        evidence.confidence = round(min(1.0, max(0.0, (best - s.relevance_threshold) / span)), 4)
        evidence.is_confused = _ambiguous(relevant, s.confident_similarity, s.confused_margin)
        if request.expand == "section":
            passages = await self._expand(tenant, relevant, evidence)
        else:
            passages = [Passage.from_chunks([hit.chunk], hit.dense_similarity, expanded=False) for hit in relevant]
        if request.compress:
            await self._score_sentences(vector, passages, evidence.timings_ms)
        tokens, tokenizer = await self._count_tokens([x for p in passages for x in p.sentences])
        evidence.context.tokens_before_compression = sum(tokens.values())
        if request.compress:
            threshold = (
                s.compress_min_similarity
                if request.compress_min_similarity is None
                else request.compress_min_similarity
            )
            margin = (
                s.compress_passage_margin
                if request.compress_passage_margin is None
                else request.compress_passage_margin
            )
            method = request.compress_method or s.compress_method
            chosen = await self._llm_sentences(evidence, passages) if method == "llm" else None
            if chosen is None:
                passages = keep_relevant(passages, threshold, None if margin < 0 else margin)
                evidence.context.compression = "similarity"
            else:
                passages = keep_chosen(passages, chosen)
                evidence.context.compression = "llm"
        budget = request.context_tokens or s.context_token_budget
        if request.compress:
            passages = fit_budget(passages, tokens, budget)
        else:
            # Without sentence scores, whole passages go from the end (the first always stays).
            while len(passages) > 1 and sum(tokens[id(x)] for p in passages for x in p.sentences) > budget:
                passages.pop()
        evidence.passages = passages
        evidence.context.passages = len(passages)
        evidence.context.tokens = sum(tokens[id(x)] for p in passages for x in p.sentences)
        evidence.context.tokenizer = tokenizer
        evidence.context.sections_expanded = sum(1 for p in passages if p.expanded)
        return evidence

    async def _llm_sentences(self, evidence: Evidence, passages: list[Passage]) -> set[int] | None:
        """The optional LLM extractor: the numbers of the sentences the generator says bear on the question, or
        None when it cannot answer (down, too slow, off the schema), and similarity decides instead."""
        texts, order = numbered(passages)
        if not order:
            return None
        started = time.perf_counter()
        try:
            reply = await self._downstream.generator.Extract(
                generator_pb2.ExtractRequest(
                    instruction=EXTRACT_INSTRUCTION,
                    text=f"Question: {evidence.question}",
                    passages=[
                        generator_pb2.Passage(index=i, title=p.title, text=text)
                        for i, (p, text) in enumerate(zip(passages, texts, strict=True), start=1)
                    ],
                    json_schema=json.dumps(sentence_schema(len(order))),
                    examples=[generator_pb2.ExtractExample(text=t, json=json.dumps(j)) for t, j in EXTRACT_EXAMPLES],
                    max_tokens=min(400, 16 + 4 * len(order)),
                ),
                timeout=self._settings.compress_llm_timeout_seconds,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("LLM compression unavailable (%s); compressing by similarity", exc.code().name)
            evidence.fallbacks.append("compress_llm")
            return None
        finally:
            evidence.timings_ms["compress_llm"] = round((time.perf_counter() - started) * 1000, 2)
        return set(json.loads(reply.json)["sentences"])

    async def _rerank(self, evidence: Evidence, hits: list[retriever_pb2.Hit]) -> list[retriever_pb2.Hit]:
        """Cross-encoder order when a reranker is configured; the retriever's order otherwise, or if it fails."""
        if not self._reranker.configured or len(hits) < 2:
            return hits
        started = time.perf_counter()
        try:
            order = await self._reranker.order(evidence.question, [hit.chunk.text for hit in hits])
        except httpx.HTTPError as exc:
            log.warning("reranker failed (%s); keeping the retriever's order", exc)
            evidence.fallbacks.append("rerank")
            return hits
        evidence.timings_ms["rerank"] = round((time.perf_counter() - started) * 1000, 2)
        evidence.context.reranked = True
        return [hits[index] for index, _ in order]

    async def _expand(self, tenant: str, hits: list[retriever_pb2.Hit], evidence: Evidence) -> list[Passage]:
        """Parent-document retrieval: each hit's whole section (once), when it fits."""
        started = time.perf_counter()
        refs = list(dict.fromkeys((h.chunk.document_id, h.chunk.section_id) for h in hits if h.chunk.section_id))
        sections: dict[tuple[str, str], list[retriever_pb2.Chunk]] = {}
        if refs:
            try:
                reply = await self._downstream.retriever.GetSections(
                    retriever_pb2.GetSectionsRequest(
                        tenant=tenant,
                        sections=[retriever_pb2.SectionRef(document_id=d, section_id=x) for d, x in refs],
                    ),
                    timeout=self._settings.retrieval_timeout_seconds,
                )
                sections = {(x.document_id, x.section_id): list(x.chunks) for x in reply.sections}
            except grpc.aio.AioRpcError as exc:
                log.warning("parent sections unavailable (%s); using the chunks alone", exc.code().name)
                evidence.fallbacks.append("expand")
        evidence.timings_ms["expand"] = round((time.perf_counter() - started) * 1000, 2)
        return expand_to_sections(hits, sections, self._settings.max_section_chars)

    async def _score_sentences(self, vector: list[float], passages: list[Passage], timings: dict[str, float]) -> None:
        """Each sentence's cosine similarity to the question (vectors are L2-normalised by the embedder)."""
        started = time.perf_counter()
        sentences = [x for p in passages for x in p.sentences]
        for begin in range(0, len(sentences), _EMBED_BATCH):
            batch = sentences[begin : begin + _EMBED_BATCH]
            embedded = await self._downstream.embedder.Embed(
                embedder_pb2.EmbedRequest(texts=[x.text for x in batch], kind=embedder_pb2.INPUT_KIND_DOCUMENT),
                timeout=self._settings.retrieval_timeout_seconds,
            )
            for sentence, values in zip(batch, embedded.vectors, strict=True):
                sentence.similarity = float(sum(a * b for a, b in zip(vector, values.values, strict=True)))
        timings["compress"] = round((time.perf_counter() - started) * 1000, 2)

    async def _count_tokens(self, sentences: list) -> tuple[dict[int, int], str]:
        """Token counts by id(sentence), from the generator's tokenizer; a 4-characters-a-token estimate when
        the generator is unreachable (the answer will degrade anyway)."""
        texts = [x.text for x in sentences]
        counts: list[int] = []
        try:
            for begin in range(0, len(texts), _COUNT_BATCH):
                reply = await self._downstream.generator.CountTokens(
                    generator_pb2.CountTokensRequest(texts=texts[begin : begin + _COUNT_BATCH]),
                    timeout=self._settings.retrieval_timeout_seconds,
                )
                counts.extend(reply.counts)
            tokenizer = reply.tokenizer if texts else ""
        except grpc.aio.AioRpcError as exc:
            log.warning("token counting unavailable (%s); estimating", exc.code().name)
            counts, tokenizer = [max(1, len(t) // 4) for t in texts], "estimate: 4 characters a token"
        return {id(x): n for x, n in zip(sentences, counts, strict=True)}, tokenizer

    def _request(self, evidence: Evidence, request: QueryRequest) -> generator_pb2.GenerateRequest:
        return generator_pb2.GenerateRequest(
            question=evidence.question, passages=evidence.generator_passages(), max_tokens=request.max_tokens or 0
        )

    def _response(self, evidence: Evidence, answer: str, **extra: object) -> QueryResponse:
        citations = evidence.citations(answer)
        if evidence.is_confused and answer:
            answer = f"{answer}\n\n{CONFUSED_NOTE}"
        return QueryResponse(
            answer=answer,
            citations=citations,
            confidence=evidence.confidence,
            no_context=evidence.no_context,
            is_confused=evidence.is_confused,
            context=evidence.context,
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
        if key and not evidence.fallbacks:
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
        if evidence.is_confused and response.answer.endswith(CONFUSED_NOTE):
            yield {"event": "token", "data": json.dumps({"text": f"\n\n{CONFUSED_NOTE}"})}
        yield {"event": "citations", "data": json.dumps([c.model_dump() for c in response.citations])}
        yield {"event": "done", "data": response.model_dump_json()}
