"""Batches: many searches or questions in one request. Their texts are embedded in one call to the embedder, the
items run a few at a time, and each succeeds or fails on its own (a bad question fails its item, not the batch)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import grpc

from services.gateway.identity import Principal
from services.gateway.models import QueryRequest, QueryResponse, SearchRequest, SearchResponse
from services.gateway.query.questions import clean_question
from services.gateway.query.service import QueryService
from services.runtime.errors import InvalidArgument

log = logging.getLogger(__name__)
Response = TypeVar("Response")


@dataclass
class Outcome(Generic[Response]):
    """One item's response, or what stopped it."""

    response: Response | None = None
    error: Exception | None = None


@dataclass
class BatchRun(Generic[Response]):
    outcomes: list[Outcome[Response]]
    embedded: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


class Batches:
    """Runs a caller's batch through the query service, as that caller's single requests would run."""

    def __init__(self, service: QueryService, max_items: int, concurrency: int) -> None:
        self._service = service
        self._max_items = max_items
        self._concurrency = max(1, concurrency)

    def check(self, requests: Sequence[SearchRequest] | Sequence[QueryRequest]) -> None:
        """InvalidArgument unless the batch may run: 1 to max_items items, none streamed. Cheap: callers check
        before counting the items against the rate limits."""
        if not 1 <= len(requests) <= self._max_items:
            raise InvalidArgument(f"requests: send 1 to {self._max_items} items in a batch, not {len(requests)}")
        streamed = [i for i, r in enumerate(requests) if isinstance(r, QueryRequest) and r.stream]
        if streamed:
            raise InvalidArgument(f"requests[{streamed[0]}].stream: a batch's answers are not streamed")

    async def search(self, caller: Principal, requests: Sequence[SearchRequest]) -> BatchRun[SearchResponse]:
        self.check(requests)
        return await self._run(
            [r.query for r in requests], lambda i, vector: self._service.search(caller, requests[i], vector)
        )

    async def answer(self, caller: Principal, requests: Sequence[QueryRequest]) -> BatchRun[QueryResponse]:
        self.check(requests)
        return await self._run(
            [r.question for r in requests], lambda i, vector: self._service.answer(caller, requests[i], vector)
        )

    async def _run(
        self, texts: list[str], run: Callable[[int, list[float] | None], Awaitable[Response]]
    ) -> BatchRun[Response]:
        outcomes: list[Outcome[Response]] = [Outcome() for _ in texts]
        cleaned: dict[int, str] = {}
        limit = self._service.settings.max_question_chars
        for i, text in enumerate(texts):
            try:
                cleaned[i] = clean_question(text, limit)
            except InvalidArgument as exc:
                outcomes[i].error = exc
        batch: BatchRun[Response] = BatchRun(outcomes)
        vectors = await self._embed(list(cleaned.values()), batch)
        by_item = dict(zip(cleaned, vectors, strict=True)) if vectors else {}
        gate = asyncio.Semaphore(self._concurrency)

        async def one(i: int) -> None:
            async with gate:
                try:
                    outcomes[i].response = await run(i, by_item.get(i))
                except Exception as exc:  # each item fails on its own; the route says how
                    outcomes[i].error = exc

        await asyncio.gather(*(one(i) for i in cleaned))
        return batch

    async def _embed(self, texts: list[str], batch: BatchRun) -> list[list[float]]:
        """The items' vectors in one call; none when the call fails (then each item embeds on its own, and fails
        on its own if the embedder is down)."""
        if not texts:
            return []
        try:
            vectors = await self._service.evidence.retrieval.embed_many(texts, batch.timings_ms)
        except grpc.aio.AioRpcError as exc:
            log.warning("a batch's shared embedding failed (%s); its items embed one by one", exc.code().name)
            return []
        batch.embedded = len(vectors)
        return vectors
