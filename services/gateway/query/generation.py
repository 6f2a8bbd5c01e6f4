"""Generation: the generator's answer for the evidence, whole or streamed. When the generator fails the caller
gets None (or a stream without a final message) and the answer degrades to retrieval-only, never to an error.
Which prompt version and model answer comes from the generator itself (`Describe`), never from a copy here."""

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc

from ragmesh.generator.v1 import generator_pb2
from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.models import QueryRequest, Usage
from services.gateway.query.evidence import Evidence
from services.gateway.query.timing import timed

log = logging.getLogger(__name__)


@dataclass
class Generated:
    text: str
    model: str
    prompt_version: str
    usage: Usage


def _generated(reply: generator_pb2.GenerateResponse) -> Generated:
    usage = Usage(
        prompt_tokens=reply.usage.prompt_tokens,
        completion_tokens=reply.usage.completion_tokens,
        cost_usd=reply.usage.cost_usd,
    )
    return Generated(reply.text, reply.model, reply.prompt_version, usage)


class Generation:
    """Calls the generator for any tenant's evidence."""

    def __init__(self, settings: GatewaySettings, downstream: Downstream) -> None:
        self._settings = settings
        self._downstream = downstream
        self._described: tuple[float, str] = (0.0, "")

    async def prompt_version(self) -> str:
        """The generator's current prompt version (part of every answer-cache key), asked at most every
        `generator_describe_seconds`; "" when the generator cannot say (then nothing is cached)."""
        at, version = self._described
        if version and time.monotonic() - at < self._settings.generator_describe_seconds:
            return version
        try:
            reply = await self._downstream.generator.Describe(generator_pb2.DescribeRequest(), timeout=2)
        except grpc.aio.AioRpcError as exc:
            log.warning("generator cannot describe itself (%s); not caching answers", exc.code().name)
            return ""
        self._described = (time.monotonic(), reply.prompt_version)
        return reply.prompt_version

    def _request(self, evidence: Evidence, request: QueryRequest, max_tokens: int) -> generator_pb2.GenerateRequest:
        return generator_pb2.GenerateRequest(
            question=evidence.question, passages=evidence.generator_passages(), max_tokens=max_tokens
        )

    async def generate(self, evidence: Evidence, request: QueryRequest, max_tokens: int = 0) -> Generated | None:
        """The whole answer, or None when the generator is unavailable."""
        try:
            with timed(evidence.timings_ms, "generate"):
                reply = await self._downstream.generator.Generate(
                    self._request(evidence, request, max_tokens), timeout=self._settings.generation_timeout_seconds
                )
        except grpc.aio.AioRpcError as exc:
            log.warning("generation failed (%s); answering with retrieval only", exc.code().name)
            return None
        return _generated(reply)

    async def stream(
        self, evidence: Evidence, request: QueryRequest, max_tokens: int = 0
    ) -> AsyncIterator[str | Generated]:
        """Text deltas as they come, then the whole answer; no final item when the generator fails midway."""
        try:
            with timed(evidence.timings_ms, "generate"):
                call = self._downstream.generator.GenerateStream(
                    self._request(evidence, request, max_tokens), timeout=self._settings.generation_timeout_seconds
                )
                async for event in call:
                    if event.HasField("final"):
                        yield _generated(event.final)
                    else:
                        yield event.delta
        except grpc.aio.AioRpcError as exc:
            log.warning("streamed generation failed (%s); answering with retrieval only", exc.code().name)
