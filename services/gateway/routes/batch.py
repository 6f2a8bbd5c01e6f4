"""POST /v1/batch/search and /v1/batch/query: many searches or questions in one request, sharing one embedding
call; the batch counts as one request per item against the rate limits, and each item fails on its own."""

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from services.gateway.batch_models import (
    BatchQueryRequest,
    BatchQueryResponse,
    BatchSearchRequest,
    BatchSearchResponse,
    BatchStats,
    ItemError,
    QueryResult,
    SearchResult,
)
from services.gateway.clients import Downstream
from services.gateway.deps import ClientsDep, LimiterDep, QueryCaller, ServiceDep, admission
from services.gateway.errors import problem
from services.gateway.identity import Principal
from services.gateway.query.batch import Batches, BatchRun, Outcome
from services.gateway.query.service import QueryService
from services.gateway.ratelimits import RateLimiter
from services.gateway.routes import problems

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/batch", tags=["query"], responses=problems(400, 401, 403, 422, 429))


def _error(outcome: Outcome) -> ItemError | None:
    if outcome.error is None:
        return None
    known = problem(outcome.error)
    if known is None:
        log.error("a batch item failed", exc_info=outcome.error)
        known = (500, "this item failed unexpectedly")
    return ItemError(status=known[0], detail=known[1])


def _stats(run: BatchRun) -> BatchStats:
    failed = sum(1 for o in run.outcomes if o.error is not None)
    return BatchStats(items=len(run.outcomes), failed=failed, embedded=run.embedded, timings_ms=run.timings_ms)


@dataclass
class _Admitting:
    """What running a batch needs: who asks, the query service, and the rate limiter that counts every item."""

    caller: Principal
    service: QueryService
    limiter: RateLimiter
    downstream: Downstream
    response: Response

    async def run(self, requests: list, bucket: str) -> BatchRun:
        """Check the batch, count each item against `bucket`, then run the items (searches or questions)."""
        s = self.service.settings
        batches = Batches(self.service, s.batch_max_items, s.batch_concurrency)
        batches.check(requests)
        async with admission(self.limiter, self.downstream, self.caller, bucket, self.response, cost=len(requests)):
            if bucket == "search":
                return await batches.search(self.caller, requests)
            return await batches.answer(self.caller, requests)


async def _admitting(
    caller: QueryCaller, service: ServiceDep, limiter: LimiterDep, downstream: ClientsDep, response: Response
) -> _Admitting:
    return _Admitting(caller, service, limiter, downstream, response)


Admitting = Annotated[_Admitting, Depends(_admitting)]


@router.post("/search", response_model=BatchSearchResponse)
async def search_many(body: BatchSearchRequest, batch: Admitting) -> BatchSearchResponse:
    """Several searches at once, each as POST /v1/search would run it; results in the order sent."""
    run = await batch.run(body.requests, "search")
    results = [SearchResult(index=i, response=o.response, error=_error(o)) for i, o in enumerate(run.outcomes)]
    return BatchSearchResponse(results=results, batch=_stats(run))


@router.post("/query", response_model=BatchQueryResponse)
async def query_many(body: BatchQueryRequest, batch: Admitting) -> BatchQueryResponse:
    """Several questions at once, each as POST /v1/query would answer it (budgets and caches included)."""
    run = await batch.run(body.requests, "answer")
    results = [QueryResult(index=i, response=o.response, error=_error(o)) for i, o in enumerate(run.outcomes)]
    return BatchQueryResponse(results=results, batch=_stats(run))
