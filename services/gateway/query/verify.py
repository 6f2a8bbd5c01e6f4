"""Claim verification: retrieve evidence for a claim, then ask the generator's Extract for a verdict held to a
schema (SUPPORT / CONTRADICT / NOT_ENOUGH_INFO and the passages that decide it)."""

import json
import logging

import grpc

from ragmesh.generator.v1 import generator_pb2
from services.gateway.identity import Principal
from services.gateway.learning.steering import Steering
from services.gateway.models import QueryRequest, VerifyRequest, VerifyResponse
from services.gateway.query.evidence import Evidence
from services.gateway.query.service import QueryService
from services.gateway.query.timing import timed
from services.gateway.spending import Tab, tokens_at_most, usage_of

log = logging.getLogger(__name__)

_VERDICT_TOKENS = 60
VERDICTS = ("SUPPORT", "CONTRADICT", "NOT_ENOUGH_INFO")
INSTRUCTION = (
    "Decide whether the numbered passages support or contradict the claim. SUPPORT: a passage shows the claim "
    "is true. CONTRADICT: a passage shows the claim is false. NOT_ENOUGH_INFO: no passage settles it. List the "
    "numbers of the passages that decide it."
)
# Worked examples carry their own passages: they teach a small base model the shape, not the facts.
EXAMPLES = [
    (
        "[1] Aspirin trial. Daily aspirin cut first heart attacks by 44% in 22,071 physicians. "
        "Claim: Aspirin raises the risk of a first heart attack.",
        {"verdict": "CONTRADICT", "evidence": [1]},
    ),
    (
        "[1] Sleep study. Weekly exercise had no effect on sleep. [2] Vitamin D. Supplements raised bone density "
        "in older women. Claim: Vitamin D supplements increase bone density in older women.",
        {"verdict": "SUPPORT", "evidence": [2]},
    ),
    (
        "[1] Coffee and the liver. Coffee drinkers had fewer liver enzymes out of range. "
        "Claim: Green tea prevents migraines.",
        {"verdict": "NOT_ENOUGH_INFO", "evidence": []},
    ),
]


def verdict_schema(passages: int) -> dict:
    """The answer's JSON Schema: a verdict, and passage numbers that exist."""
    numbers = list(range(1, passages + 1))
    return {
        "type": "object",
        "properties": {
            "verdict": {"enum": list(VERDICTS)},
            "evidence": {"type": "array", "items": {"enum": numbers}, "maxItems": len(numbers)},
        },
        "required": ["verdict", "evidence"],
        "additionalProperties": False,
    }


class ClaimChecker:
    """Checks claims against one tenant's documents at a time, with the query pipeline's retrieval."""

    def __init__(self, service: QueryService) -> None:
        self._service = service

    async def verify(self, caller: Principal, request: VerifyRequest) -> VerifyResponse:
        query = self._service.held(caller, request.as_query())
        async with self._service.tab(caller, "verify") as tab:
            steer = await self._service.steering(caller, request.dials, personalize=False)
            checked = await self._verify(tab, query, steer)
        return self._service.interactions.note(caller, "verify", request.claim, checked, steer)

    async def _verify(self, tab: Tab, query: QueryRequest, steer: Steering) -> VerifyResponse:
        version = steer.versioned(await self._service.versions.current(tab.caller.tenant))
        evidence = await self._service.evidence.gather(tab, query, version, steering=steer)
        if evidence.no_context:
            return self._response(evidence, "NOT_ENOUGH_INFO", set())
        examples = [t + json.dumps(j) for t, j in EXAMPLES]
        prompt = evidence.context.tokens + tokens_at_most(INSTRUCTION, evidence.question, *examples)
        charge = await tab.reserve("verify", prompt, _VERDICT_TOKENS)
        reply = None
        instruction = await self._service.instructions.of(tab.caller, "verify", INSTRUCTION)
        try:
            with timed(evidence.timings_ms, "generate"):
                reply = await self._service.downstream.generator.Extract(
                    generator_pb2.ExtractRequest(
                        role="verify",
                        instruction=instruction,
                        text=f"Claim: {evidence.question}",
                        passages=evidence.generator_passages(),
                        json_schema=json.dumps(verdict_schema(len(evidence.passages))),
                        examples=[generator_pb2.ExtractExample(text=t, json=json.dumps(j)) for t, j in EXAMPLES],
                        max_tokens=_VERDICT_TOKENS,
                    ),
                    timeout=self._service.settings.generation_timeout_seconds,
                )
        except grpc.aio.AioRpcError as exc:
            log.warning("verdict unavailable (%s); answering with retrieval only", exc.code().name)
            return self._response(evidence, None, set(), degraded=True, usage=tab.usage)
        finally:
            await tab.settle(charge, usage_of(reply.usage) if reply is not None else None, reply.model if reply else "")
        answer = json.loads(reply.json)
        verdict = answer["verdict"]
        cited = set(answer["evidence"])
        if verdict != "NOT_ENOUGH_INFO" and not cited:
            # A verdict with no passage named: the passage that matches the claim best carries it.
            cited = {1}
        return self._response(evidence, verdict, cited, model=reply.model, usage=tab.usage)

    @staticmethod
    def _response(evidence: Evidence, verdict: str | None, cited: set[int], **extra: object) -> VerifyResponse:
        citations = evidence.citations("")
        for citation in citations:
            citation.cited = citation.index in cited
        return VerifyResponse(
            verdict=verdict,
            citations=citations,
            **evidence.summary(),
            **extra,
        )
