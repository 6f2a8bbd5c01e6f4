"""The query service: answer (from the caches when the same or a near-identical question met the same corpus),
stream, search; each request held to its key's tier and charged to its tab."""

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.gateway.budgets import BudgetPolicy, Budgets
from services.gateway.clients import Downstream
from services.gateway.collection.answers import CollectionAnswers
from services.gateway.config import GatewaySettings
from services.gateway.identity import Principal
from services.gateway.learning.adapters import Adapters
from services.gateway.learning.dials import Dials
from services.gateway.learning.interactions import InteractionLog, pseudonym
from services.gateway.learning.preferences import UserPreferences
from services.gateway.learning.prompts import PIPELINE, ChosenPrompt, Instructions, PromptRegistry
from services.gateway.learning.steering import UNSTEERED, Steering, steering
from services.gateway.learning.variants import Variants
from services.gateway.metrics import observe_answer
from services.gateway.models import QueryRequest, QueryResponse, Rewrite, SearchRequest, SearchResponse
from services.gateway.query.caches import AnswerCache, SemanticCache
from services.gateway.query.conversation import Conversations
from services.gateway.query.evidence import Evidence, EvidenceGatherer
from services.gateway.query.generation import Generated, Generation
from services.gateway.query.questions import clean_question
from services.gateway.query.responses import (
    CONFUSED_NOTE,
    DEGRADED_ANSWER,
    NO_CONTEXT_ANSWER,
    answer_response,
)
from services.gateway.query.safety import StreamSanitizer
from services.gateway.query.search import Searcher
from services.gateway.query.traced import described
from services.gateway.spending import Charge, Spending, Tab
from services.gateway.tiers import bound_query, bound_search, tier_of
from services.gateway.usage import UsageLedger
from services.runtime.telemetry import step

log = logging.getLogger(__name__)
MIDWAY = "the answer was cut off: generation failed midway; the text so far and its citations follow"


def _event(name: str, data: object) -> dict[str, str]:
    return {"event": name, "data": data if isinstance(data, str) else json.dumps(data)}


class QueryService:
    """Answers questions for any caller; holds no per-request state."""

    def __init__(
        self,
        settings: GatewaySettings,
        downstream: Downstream,
        ledger: UsageLedger,
        interactions: InteractionLog,
        dials: Dials,
        preferences: UserPreferences,
        adapters: Adapters,
        prompts: PromptRegistry,
    ) -> None:
        self.settings = settings
        self.prompts = prompts
        self.interactions = interactions
        self.dials = dials
        self.preferences = preferences
        self.adapters = adapters
        self.downstream = downstream
        self.versions = downstream.versions
        self.instructions = Instructions(prompts, settings.interaction_secret)
        self.variants = Variants(prompts, settings.interaction_secret)
        self.evidence = EvidenceGatherer(settings, downstream, self.instructions)
        self.generation = Generation(settings, downstream)
        self.conversations = Conversations(settings, downstream, self.instructions)
        self.collection = CollectionAnswers(settings, downstream, self.evidence.planner)
        self._search = Searcher(settings, self.evidence)
        self._cache = AnswerCache(downstream.cache_redis, settings.answer_cache_seconds)
        self._semantic = SemanticCache(
            downstream.cache_redis,
            settings.answer_cache_seconds,
            settings.semantic_cache_threshold,
            settings.semantic_cache_entries,
        )
        budgets = Budgets(
            downstream.redis,
            BudgetPolicy(
                user_usd=settings.budget_user_usd_per_day,
                tenant_usd=settings.budget_tenant_usd_per_day,
                suite_usd=settings.budget_global_usd_per_day,
                price_per_1k_tokens_usd=settings.price_per_1k_tokens_usd,
                alert_webhook_url=settings.budget_alert_webhook_url,
            ),
        )
        self.spending = Spending(budgets, ledger, self.generation.prices)

    async def steering(self, caller: Principal, weights: dict[str, float], personalize: bool) -> Steering:
        """What the request's dials and the caller's own vector do to its query vector (no dial asked: no lookup
        of dials; personalization off: none of the caller's vector)."""
        s = self.settings
        mine = None
        user = pseudonym(caller, s.interaction_secret)
        found = await self.preferences.vector(caller.tenant, user) if personalize and s.user_vector_weight > 0 else None
        if found:
            mine = (found[0], f"{user}@{found[1]}")
        adapter = await self.adapters.served_to(caller.tenant, user)
        if not weights and mine is None and adapter is None:
            return UNSTEERED
        dials = await self.dials.of(caller.tenant) if weights else {}
        return steering(dials, weights, s.dial_strength, mine, s.user_vector_weight, adapter)

    def held(self, caller: Principal, request: QueryRequest) -> QueryRequest:
        s = self.settings
        name, tier = tier_of(caller, s.tiers, s.default_tier)
        defaults = {
            "top_k": s.default_top_k,
            "context_tokens": s.context_token_budget,
            "max_tokens": s.budget_max_tokens,
        }
        return bound_query(request, name, tier, defaults)

    @asynccontextmanager
    async def tab(self, caller: Principal, route: str) -> AsyncIterator[Tab]:
        """A request's tab, written to the ledger when the request ends (when it failed, only if it spent)."""
        tab = self.spending.tab(caller, route)
        try:
            yield tab
        except BaseException:
            if tab.usage.model_calls:
                await self.spending.close(tab)
            raise
        await self.spending.close(tab)

    async def _reserve(self, tab: Tab, evidence: Evidence, request: QueryRequest) -> tuple[Charge, int]:
        """The answer's worst case charged to every budget in scope (BudgetExceeded when one is spent), and the
        answer length to ask for: the request's, or a short one once a budget is 90% spent."""
        s = self.settings
        max_tokens = request.max_tokens or s.budget_max_tokens
        # Instructions, the worked example and the question stay under this many tokens (a question is at most
        # max_question_chars, about a quarter as many tokens).
        overhead = 300 + s.max_question_chars // 4
        with step("gateway", "budget"):
            charge = await tab.reserve("answer", evidence.context.tokens + overhead, max_tokens)
        if tab.tight:
            return charge, min(max_tokens, s.budget_tight_max_tokens)
        # 0 lets the generator use its own default length (the worst case assumed budget_max_tokens).
        return charge, request.max_tokens or 0

    async def answer(
        self, caller: Principal, request: QueryRequest, vector: list[float] | None = None
    ) -> QueryResponse:
        """The whole answer; from the cache when the same question was answered on the same corpus and prompt.
        `vector`: the cleaned question's, when a batch embedded it already."""
        request, variant = await self.variants.chosen(caller, request)
        request = self.held(caller, request)
        with step("gateway", "answer", tenant=caller.tenant) as span:
            async with self.tab(caller, "query") as tab:
                request, rewrite = await self._standalone(tab, request)
                steer = await self.steering(caller, request.dials, request.personalize)
                response = await self._answer(tab, request, steer, None if rewrite else vector)
                response = response.model_copy(update={"rewrite": rewrite, "variant": variant})
            response = self.interactions.note(caller, "query", request.question, response, steer)
            described(span, request.question, response, self.settings.trace_question_text)
        observe_answer("query", response)
        return response

    async def _standalone(self, tab: Tab, request: QueryRequest) -> tuple[QueryRequest, Rewrite | None]:
        """The request with its question made standalone from its history (query/conversation.py)."""
        rewrite = await self.conversations.standalone(tab, request.question, request.history)
        return (request.model_copy(update={"question": rewrite.question}), rewrite) if rewrite else (request, None)

    async def _guard_prompt(self, tenant: str) -> None:
        await self.interactions.flush()
        await self.prompts.guard_canary(tenant)
        await self.prompts.guard_canary(tenant, PIPELINE)

    async def _prompt(self, caller: Principal, request: QueryRequest) -> ChosenPrompt | None:
        """The tenant's answer instruction for this asker (a canary's users keep theirs), or None: the built-in. A
        model the request names is checked here too, so that either is a 422 before any retrieval."""
        if not request.generate:
            return None
        await self.generation.check_model(request.model)
        if request.prompt_version:
            return await self.prompts.named(caller.tenant, "answer", request.prompt_version)
        return await self.prompts.chosen(caller.tenant, "answer", pseudonym(caller, self.settings.interaction_secret))

    async def _about_collection(
        self, tab: Tab, request: QueryRequest, question: str, version: str
    ) -> QueryResponse | None:
        """The answer to a question about the collection itself, counted from the catalogue; None for any other
        (and when the request brings its own filters or turns self-query off: then it is the caller's search)."""
        if not (self.settings.collection_questions and request.self_query and not request.filters):
            return None
        plan = await self.collection.recognise(tab.caller, question, version)
        if plan is None:
            return None
        found = await self.collection.run(tab.caller, plan, question, version)
        return QueryResponse(
            answer=found.answer, citations=[], confidence=1.0, no_context=False, usage=tab.usage, collection=found
        )

    async def _answer(
        self, tab: Tab, request: QueryRequest, steer: Steering, vector: list[float] | None
    ) -> QueryResponse:
        caller = tab.caller
        tenant = caller.tenant
        with step("gateway", "validate"):
            question = clean_question(request.question, self.settings.max_question_chars)
        version = steer.versioned(await self.versions.current(tenant))
        prompt = await self._prompt(caller, request)
        prompt_version = "none"
        if version and request.generate:
            prompt_version = prompt.version if prompt else await self.generation.prompt_version()
        key = (
            AnswerCache.key(tenant, caller.viewer, version, question, request, prompt_version)
            if version and prompt_version
            else ""
        )
        if (counted := await self._about_collection(tab, request, question, version)) is not None:
            return counted
        with step("gateway", "answer_cache") as span:
            cached = await self._cache.get(key, caller.viewer) if key else None
            span.set_attribute("cache.hit", cached is not None)
        if cached is not None:
            tab.cached = True
            # What this request spent: nothing (the cached usage was the first asker's).
            return cached.model_copy(update={"cached": True, "usage": tab.usage})
        semantic_key, timings = "", {}
        if key and request.generate and self._semantic.enabled:
            vector = vector or await self.evidence.retrieval.embed(question, timings)
            semantic_key = SemanticCache.key(tenant, caller.viewer, version, request, prompt_version)
            with step("gateway", "semantic_cache") as span:
                similar = await self._semantic.find(semantic_key, vector)
                cached = await self._cache.get(similar[0], caller.viewer) if similar is not None else None
                span.set_attribute("cache.hit", cached is not None)
            if similar is not None and cached is not None:
                tab.cached = True
                update = {"cached": "semantic", "cached_question": similar[1], "usage": tab.usage}
                return cached.model_copy(update=update)
        evidence = await self.evidence.gather(tab, request, version, vector, steer)
        if timings:
            evidence.timings_ms = {**timings, **evidence.timings_ms}
        if evidence.no_context:
            response = answer_response(tab.usage, evidence, NO_CONTEXT_ANSWER)
        elif not request.generate:
            response = answer_response(tab.usage, evidence, "")
        else:
            charge, max_tokens = await self._reserve(tab, evidence, request)
            generated = await self.generation.generate(
                evidence, max_tokens, economy=tab.tight, prompt=prompt, model=request.model or ""
            )
            await tab.settle(charge, generated.usage if generated else None, generated.model if generated else "")
            if generated is None:
                # Failures count against a canary prompt or variant too (its error rate), once this one is recorded.
                self.downstream.background.spawn(self._guard_prompt(tab.caller.tenant))
                return answer_response(tab.usage, evidence, DEGRADED_ANSWER, degraded=True)
            with step("gateway", "post_process"):
                response = answer_response(tab.usage, evidence, generated.text, generated)
        if key and not evidence.fallbacks:
            # Stored after the answer leaves: the asker does not wait for the cache.
            self.downstream.background.spawn(self._cache.put(key, response, evidence.access()))
            if semantic_key and vector is not None and not evidence.no_context:
                self.downstream.background.spawn(self._semantic.add(semantic_key, question, key, vector))
        return response

    async def stream(self, caller: Principal, request: QueryRequest) -> AsyncIterator[dict]:
        """The answer's events. Validation, retrieval and the budget come first, so that bad input or a spent
        budget is a plain 4xx before the stream opens."""
        request, variant = await self.variants.chosen(caller, request)
        request = self.held(caller, request)
        tab = self.spending.tab(caller, "query")
        try:
            request, rewrite = await self._standalone(tab, request)
            steer = await self.steering(caller, request.dials, request.personalize)
            version = steer.versioned(await self.versions.current(caller.tenant))
            question = clean_question(request.question, self.settings.max_question_chars)
            if (counted := await self._about_collection(tab, request, question, version)) is not None:
                await self.spending.close(tab)
                return self._counted_stream(tab.caller, request, counted, steer)
            prompt = await self._prompt(caller, request)
            evidence = await self.evidence.gather(tab, request, version, steering=steer)
            reserved = (
                await self._reserve(tab, evidence, request)
                if request.generate and not evidence.no_context
                else (None, 0)
            )
        except BaseException:
            if tab.usage.model_calls:
                await self.spending.close(tab)
            raise
        return self._stream(tab, evidence, request, steer, (rewrite, variant), prompt, *reserved)

    async def _stream(
        self,
        tab: Tab,
        evidence: Evidence,
        request: QueryRequest,
        steer: Steering,
        asked: tuple[Rewrite | None, str],
        prompt: ChosenPrompt | None,
        charge: Charge | None,
        max_tokens: int,
    ) -> AsyncIterator[dict]:
        """Server-sent events: `token` events with text, then `citations`, then `done` with the whole response.
        A stream that fails midway says so in an `error` event (never ends silently). The answer is settled and the
        request written to the ledger however the stream ends."""
        final: Generated | None = None
        try:
            if evidence.no_context:
                response = answer_response(tab.usage, evidence, NO_CONTEXT_ANSWER)
                yield _event("token", {"text": NO_CONTEXT_ANSWER})
            elif charge is None:
                response = answer_response(tab.usage, evidence, "")
            else:
                pieces: list[str] = []
                guard = StreamSanitizer(evidence.allowed_urls())
                answering = self.generation.stream(
                    evidence, max_tokens, economy=tab.tight, prompt=prompt, model=request.model or ""
                )
                async for item in answering:
                    if isinstance(item, Generated):
                        final = item
                    else:
                        pieces.append(item)
                        if released := guard.feed(item):
                            yield _event("token", {"text": released})
                if released := guard.finish():
                    yield _event("token", {"text": released})
                await tab.settle(charge, final.usage if final else None, final.model if final else "")
                if final is None:
                    response = answer_response(tab.usage, evidence, "".join(pieces) or DEGRADED_ANSWER, degraded=True)
                    if pieces:
                        yield _event("error", {"detail": MIDWAY, "degraded": True})
                    else:
                        yield _event("token", {"text": DEGRADED_ANSWER})
                else:
                    response = answer_response(tab.usage, evidence, final.text, final)
            response = response.model_copy(update={"rewrite": asked[0], "variant": asked[1]})
            response = self.interactions.note(tab.caller, "query", request.question, response, steer)
            if evidence.is_confused and response.answer.endswith(CONFUSED_NOTE):
                yield _event("token", {"text": f"\n\n{CONFUSED_NOTE}"})
            observe_answer("query", response)
            yield _event("citations", [c.model_dump() for c in response.citations])
            yield _event("done", response.model_dump_json())
        except Exception:
            # Headers are long gone: the client learns of the failure in the stream itself.
            log.exception("a streamed answer failed")
            yield _event("error", {"detail": "the answer failed midway; try again", "degraded": True})
        finally:
            # A caller that hangs up mid-answer: the model may have run to its end; its worst case stays charged.
            if charge is not None and not charge.settled and final is not None:
                await tab.settle(charge, final.usage, final.model)
            await self.spending.close(tab)

    async def _counted_stream(
        self, caller: Principal, request: QueryRequest, response: QueryResponse, steer: Steering
    ) -> AsyncIterator[dict]:
        """A collection question's answer as the stream's events: its sentence, no citations, then done."""
        response = self.interactions.note(caller, "query", request.question, response, steer)
        observe_answer("query", response)
        yield _event("token", {"text": response.answer})
        yield _event("citations", [])
        yield _event("done", response.model_dump_json())

    async def search(
        self, caller: Principal, request: SearchRequest, vector: list[float] | None = None
    ) -> SearchResponse:
        """The ranked passages, as the retriever returns them: no threshold, no passage budget. `vector`: the
        cleaned query's, when a batch embedded it already."""
        s = self.settings
        request = bound_search(request, *tier_of(caller, s.tiers, s.default_tier))
        async with self.tab(caller, "search") as tab:
            steer = await self.steering(caller, request.dials, request.personalize)
            version = steer.versioned(await self.versions.current(caller.tenant))
            found = await self._search.run(tab, request, version, steer, vector)
        return self.interactions.note(caller, "search", request.query, found, steer)
