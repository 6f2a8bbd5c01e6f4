"""POST /v1/query: ask a question, get an answer with citations (or a stream of it)."""

from fastapi import APIRouter
from sse_starlette.sse import EventSourceResponse

from services.gateway.deps import AnswerCaller, SearchCaller, ServiceDep
from services.gateway.models import (
    QueryRequest,
    QueryResponse,
    SearchRequest,
    SearchResponse,
    VerifyRequest,
    VerifyResponse,
)
from services.gateway.query.verify import ClaimChecker
from services.gateway.routes import problems

# Every operation may answer 400 (unreadable body), 401 (credentials), 403 (scope, tenant) and 422 (input).
router = APIRouter(prefix="/v1", tags=["query"], responses=problems(400, 401, 403, 422, 429))


@router.post(
    "/query",
    response_model=QueryResponse,
    responses={
        200: {
            "description": "The answer; with `stream: true`, server-sent events instead: `token` events "
            "({text}), then `citations` (a list), then `done` (the whole response).",
            "content": {"text/event-stream": {}},
        },
        **problems(401, 403, 422, 503),
    },
)
async def query(body: QueryRequest, caller: AnswerCaller, service: ServiceDep):
    """Answer a question from the tenant's documents, citing the passages used."""
    if body.stream:
        return EventSourceResponse(await service.stream(caller, body), ping=15)
    return await service.answer(caller, body)


@router.post(
    "/search",
    response_model=SearchResponse,
    responses=problems(401, 403, 422, 503),
)
async def search(body: SearchRequest, caller: SearchCaller, service: ServiceDep) -> SearchResponse:
    """The tenant's passages ranked for a query: hybrid, dense or sparse; RRF or DBSF; optional MMR."""
    return await service.search(caller, body)


@router.post(
    "/verify",
    response_model=VerifyResponse,
    responses=problems(401, 403, 422, 503),
)
async def verify(body: VerifyRequest, caller: AnswerCaller, service: ServiceDep) -> VerifyResponse:
    """Check a claim against the tenant's documents: SUPPORT, CONTRADICT or NOT_ENOUGH_INFO, with the passages
    that decide it. Nothing relevant found: NOT_ENOUGH_INFO without a model call."""
    return await ClaimChecker(service).verify(caller, body)
