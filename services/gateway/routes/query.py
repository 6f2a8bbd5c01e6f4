"""POST /v1/query: ask a question, get an answer with citations (or a stream of it)."""

from fastapi import APIRouter
from sse_starlette.sse import EventSourceResponse

from services.gateway.deps import PipelineDep, TenantDep
from services.gateway.models import (
    Problem,
    QueryRequest,
    QueryResponse,
    SearchRequest,
    SearchResponse,
    VerifyRequest,
    VerifyResponse,
)
from services.gateway.verify import ClaimChecker

router = APIRouter(prefix="/v1", tags=["query"])


@router.post(
    "/query",
    response_model=QueryResponse,
    responses={
        200: {
            "description": "The answer; with `stream: true`, server-sent events instead: `token` events "
            "({text}), then `citations` (a list), then `done` (the whole response).",
            "content": {"text/event-stream": {}},
        },
        401: {"model": Problem},
        422: {"model": Problem},
        503: {"model": Problem},
    },
)
async def query(body: QueryRequest, tenant: TenantDep, pipeline: PipelineDep):
    """Answer a question from the tenant's documents, citing the passages used."""
    if body.stream:
        # Validate and retrieve before the stream opens, so bad input still gets a plain 4xx.
        evidence = await pipeline.gather(tenant, body)
        return EventSourceResponse(pipeline.stream(tenant, evidence, body), ping=15)
    return await pipeline.answer(tenant, body)


@router.post(
    "/search",
    response_model=SearchResponse,
    responses={401: {"model": Problem}, 422: {"model": Problem}, 503: {"model": Problem}},
)
async def search(body: SearchRequest, tenant: TenantDep, pipeline: PipelineDep) -> SearchResponse:
    """The tenant's passages ranked for a query: hybrid, dense or sparse; RRF or DBSF; optional MMR."""
    return await pipeline.search(tenant, body)


@router.post(
    "/verify",
    response_model=VerifyResponse,
    responses={401: {"model": Problem}, 422: {"model": Problem}, 503: {"model": Problem}},
)
async def verify(body: VerifyRequest, tenant: TenantDep, pipeline: PipelineDep) -> VerifyResponse:
    """Check a claim against the tenant's documents: SUPPORT, CONTRADICT or NOT_ENOUGH_INFO, with the passages
    that decide it. Nothing relevant found: NOT_ENOUGH_INFO without a model call."""
    return await ClaimChecker(pipeline).verify(tenant, body)
