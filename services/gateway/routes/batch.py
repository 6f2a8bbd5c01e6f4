"""POST /v1/batch/search and /v1/batch/query: many searches or questions in one request, sharing one embedding
call; the batch counts as one request per item against the rate limits, and each item fails on its own."""

import logging

from fastapi import APIRouter, Response

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
from services.gateway.deps import ClientsDep, LimiterDep, QueryCaller, ServiceDep, admission
from services.gateway.errors import problem
from services.gateway.query.batch import Batches, BatchRun, Outcome
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


def _batches(service: ServiceDep) -> Batches:
    s = service.settings
    return Batches(service, s.batch_max_items, s.batch_concurrency)


@router.post("/search", response_model=BatchSearchResponse)
async def search_many(
    body: BatchSearchRequest,
    caller: QueryCaller,
    service: ServiceDep,
    limiter: LimiterDep,
    downstream: ClientsDep,
    response: Response,
) -> BatchSearchResponse:
    """Several searches at once, each as POST /v1/search would run it; results in the order sent."""
    batches = _batches(service)
    batches.check(body.requests)
    async with admission(limiter, downstream, caller, "search", response, cost=len(body.requests)):
        run = await batches.search(caller, body.requests)
    results = [SearchResult(index=i, response=o.response, error=_error(o)) for i, o in enumerate(run.outcomes)]
    return BatchSearchResponse(results=results, batch=_stats(run))


@router.post("/query", response_model=BatchQueryResponse)
async def query_many(
    body: BatchQueryRequest,
    caller: QueryCaller,
    service: ServiceDep,
    limiter: LimiterDep,
    downstream: ClientsDep,
    response: Response,
) -> BatchQueryResponse:
    """Several questions at once, each as POST /v1/query would answer it (budgets and caches included)."""
    batches = _batches(service)
    batches.check(body.requests)
    async with admission(limiter, downstream, caller, "answer", response, cost=len(body.requests)):
        run = await batches.answer(caller, body.requests)
    results = [QueryResult(index=i, response=o.response, error=_error(o)) for i, o in enumerate(run.outcomes)]
    return BatchQueryResponse(results=results, batch=_stats(run))
