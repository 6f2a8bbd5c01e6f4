"""Evidence: the retrieval half of every question, one stage a line, and what it found."""

import asyncio
from dataclasses import dataclass, field

from ragmesh.generator.v1 import generator_pb2
from ragmesh.retriever.v1 import retriever_pb2
from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.learning.prompts import Instructions
from services.gateway.learning.steering import UNSTEERED, Steering
from services.gateway.models import Citation, ContextStats, QueryRequest
from services.gateway.query.citations import ambiguous, citations, confidence
from services.gateway.query.compression import Compressor
from services.gateway.query.context import Passage, split_sentences
from services.gateway.query.filters import to_retriever_filter
from services.gateway.query.planning import Plan, Planner
from services.gateway.query.questions import clean_question
from services.gateway.query.retrieval import MODES, Retrieval
from services.gateway.query.safety import urls_in
from services.gateway.spending import Tab
from services.runtime.errors import InvalidArgument


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
        return citations(self.passages, self.question, answer)

    def allowed_urls(self) -> set[str]:
        """The URLs an answer may link to: those written in the passages shown."""
        return urls_in([passage.text for passage in self.passages])

    def summary(self) -> dict[str, object]:
        """The fields every response built on this evidence reports (answers and verdicts alike)."""
        return {
            "confidence": self.confidence,
            "no_context": self.no_context,
            "is_confused": self.is_confused,
            "context": self.context,
            "timings_ms": self.timings_ms,
            "filters_applied": self.plan.applied if self.plan else {},
            "self_query": self.plan.self_query_result if self.plan else None,
        }

    def access(self) -> dict[str, tuple[list[str], list[str]]]:
        """Who may see each document shown: (allowed_users, allowed_groups) by document id."""
        return {p.document_id: (p.allowed_users, p.allowed_groups) for p in self.passages}


def top_k(asked: int | None, default: int, limit: int) -> int:
    top_k = default if asked is None else asked
    if not 1 <= top_k <= limit:
        raise InvalidArgument(f"top_k must be between 1 and {limit}, got {top_k}")
    return top_k


class EvidenceGatherer:
    """Runs the retrieval stages for a question: plan, search, re-rank, threshold, sections, compression."""

    def __init__(
        self, settings: GatewaySettings, downstream: Downstream, instructions: Instructions | None = None
    ) -> None:
        self._settings = settings
        instructions = instructions or Instructions()
        self.planner = Planner(settings, downstream, instructions)
        self.retrieval = Retrieval(settings, downstream)
        self._compressor = Compressor(settings, downstream, instructions)

    async def gather(
        self,
        tab: Tab,
        request: QueryRequest,
        version: str = "",
        vector: list[float] | None = None,
        steering: Steering = UNSTEERED,
    ) -> Evidence:
        """Every retrieval stage for the tab's caller on the corpus `version` ("": unknown, nothing cached);
        optional model calls are charged to the tab. `vector`: the question's, when already embedded; `steering`:
        the request's dials (learning/steering.py)."""
        s = self._settings
        caller = tab.caller
        evidence = Evidence(question=clean_question(request.question, s.max_question_chars))
        timings, fallbacks = evidence.timings_ms, evidence.fallbacks
        k = top_k(request.top_k, s.default_top_k, s.max_top_k)
        plan = await self.planner.plan(
            tab, evidence.question, request.filters, request.self_query, timings, request.self_query_llm, version
        )
        evidence.plan = plan
        search = retriever_pb2.SearchRequest(
            top_k=k, filter=to_retriever_filter(plan.filters), mode=MODES[request.mode]
        )
        found, vector = await self.retrieval.search(
            caller, plan.text, search, timings, version, vector if plan.text == evidence.question else None, steering
        )
        found, evidence.context.reranked = await self.retrieval.rerank(evidence.question, found, timings, fallbacks)
        relevant = [hit for hit in found if hit.dense_similarity >= s.relevance_threshold][: s.max_passages]
        if not relevant:
            return evidence
        best = max(hit.dense_similarity for hit in relevant)
        evidence.confidence = confidence(best, s.relevance_threshold, s.confident_similarity)
        evidence.is_confused = ambiguous(relevant, s.confident_similarity, s.confused_margin)
        if request.expand == "section":
            # The hits' own sentences are counted while their sections are fetched and built. Counting goes first:
            # its call is on the wire before building sections (which may not wait on anything) takes the loop.
            ahead = [x.text for hit in relevant for x in split_sentences(hit.chunk.text)]
            _, passages = await asyncio.gather(
                self._compressor.count_ahead(ahead, timings),
                self.retrieval.sections(caller, relevant, timings, fallbacks),
            )
        else:
            passages = [Passage.from_chunks([hit.chunk], hit.dense_similarity, expanded=False) for hit in relevant]
        compressed = await self._compressor.compress(
            evidence.question, vector, passages, request, timings, fallbacks, tab
        )
        evidence.passages = compressed.passages
        evidence.context = evidence.context.model_copy(
            update={
                "passages": len(compressed.passages),
                "tokens": compressed.tokens,
                "tokens_before_compression": compressed.tokens_before,
                "tokenizer": compressed.tokenizer,
                "sections_expanded": sum(1 for p in compressed.passages if p.expanded),
                "compression": compressed.method,
            }
        )
        return evidence
