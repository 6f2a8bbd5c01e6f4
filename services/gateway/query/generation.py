"""Generation: the generator's answer for the evidence, whole or streamed. When the generator fails the caller
gets None (or a stream without a final message) and the answer degrades to retrieval-only, never to an error.
Which prompt version and model answer comes from the generator itself (`Describe`), never from a copy here."""

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc

from ragmesh.generator.v1 import generator_pb2
from services.gateway.budgets import Prices
from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.learning.prompts import ChosenPrompt
from services.gateway.models import Usage
from services.gateway.query.evidence import Evidence
from services.gateway.query.timing import timed
from services.gateway.spending import usage_of
from services.runtime.errors import InvalidArgument

log = logging.getLogger(__name__)


@dataclass
class Generated:
    text: str
    model: str
    prompt_version: str
    usage: Usage


def _generated(reply: generator_pb2.GenerateResponse) -> Generated:
    return Generated(reply.text, reply.model, reply.prompt_version, usage_of(reply.usage))


class Generation:
    """Calls the generator for any tenant's evidence."""

    def __init__(self, settings: GatewaySettings, downstream: Downstream) -> None:
        self._settings = settings
        self._downstream = downstream
        self._described: tuple[float, generator_pb2.DescribeResponse | None] = (0.0, None)

    async def _describe(self) -> generator_pb2.DescribeResponse | None:
        """The generator's description, asked at most every `generator_describe_seconds`; None when it cannot say."""
        at, described = self._described
        if described is not None and time.monotonic() - at < self._settings.generator_describe_seconds:
            return described
        try:
            described = await self._downstream.generator.Describe(generator_pb2.DescribeRequest(), timeout=2)
        except grpc.aio.AioRpcError as exc:
            log.warning("generator cannot describe itself (%s)", exc.code().name)
            return None
        self._described = (time.monotonic(), described)
        return described

    async def prompt_version(self) -> str:
        """The generator's current prompt version (part of every answer-cache key); "" when the generator cannot
        say (then nothing is cached)."""
        described = await self._describe()
        return described.prompt_version if described else ""

    async def check_model(self, model: str | None) -> None:
        """InvalidArgument unless the generator allows `model` (nothing to check when none is asked for, or when
        the generator cannot say: then it refuses the call itself)."""
        described = await self._describe()
        if model and described is not None and model not in described.allowed_models:
            allowed = ", ".join(described.allowed_models)
            raise InvalidArgument(f"model {model!r} is not one the generator may answer with: {allowed}")

    async def prices(self) -> Prices:
        """The dearest per-token prices of the generator's models (0 where unknown: the configured price rules)."""
        described = await self._describe()
        if described is None:
            return Prices()
        return Prices(described.input_usd_per_token, described.output_usd_per_token)

    @staticmethod
    def _request(
        evidence: Evidence, max_tokens: int, economy: bool, prompt: ChosenPrompt | None, model: str
    ) -> generator_pb2.GenerateRequest:
        return generator_pb2.GenerateRequest(
            question=evidence.question,
            passages=evidence.generator_passages(),
            max_tokens=max_tokens,
            economy=economy,
            instruction=prompt.instruction if prompt else "",
            prompt_version=prompt.version if prompt else "",
            model=model,
        )

    async def generate(
        self,
        evidence: Evidence,
        max_tokens: int = 0,
        economy: bool = False,
        prompt: ChosenPrompt | None = None,
        model: str = "",
    ) -> Generated | None:
        """The whole answer, or None when the generator is unavailable. `prompt`: the tenant's instruction for this
        asker (learning/prompts.py); None: the generator's built-in one."""
        try:
            with timed(evidence.timings_ms, "generate"):
                reply = await self._downstream.generator.Generate(
                    self._request(evidence, max_tokens, economy, prompt, model),
                    timeout=self._settings.generation_timeout_seconds,
                )
        except grpc.aio.AioRpcError as exc:
            log.warning("generation failed (%s); answering with retrieval only", exc.code().name)
            return None
        return _generated(reply)

    async def stream(
        self,
        evidence: Evidence,
        max_tokens: int = 0,
        economy: bool = False,
        prompt: ChosenPrompt | None = None,
        model: str = "",
    ) -> AsyncIterator[str | Generated]:
        """Text deltas as they come, then the whole answer; no final item when the generator fails midway. The
        timings gain `first_text` (from the stage's start to the first delta here) and `model_first_text` (the
        model's own share of that, as the generator measured it)."""
        timings = evidence.timings_ms
        try:
            with timed(timings, "generate"):
                started = time.perf_counter()
                call = self._downstream.generator.GenerateStream(
                    self._request(evidence, max_tokens, economy, prompt, model),
                    timeout=self._settings.generation_timeout_seconds,
                )
                async for event in call:
                    if event.HasField("final"):
                        timings["model_first_text"] = round(event.final.model_first_text_ms, 2)
                        yield _generated(event.final)
                    else:
                        timings.setdefault("first_text", round((time.perf_counter() - started) * 1000, 2))
                        yield event.delta
        except grpc.aio.AioRpcError as exc:
            log.warning("streamed generation failed (%s); answering with retrieval only", exc.code().name)
