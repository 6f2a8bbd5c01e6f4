"""POST /v1/collection/ask: questions about the collection itself (counts, facets, time histograms, top values),
answered with a table from the catalogue; /v1/query answers the same questions when it recognises them."""

from fastapi import APIRouter

from services.gateway.collection_models import CollectionAnswer, CollectionRequest
from services.gateway.deps import SearchCaller, ServiceDep
from services.gateway.query.questions import clean_question
from services.gateway.routes import problems
from services.runtime.errors import InvalidArgument

router = APIRouter(prefix="/v1/collection", tags=["query"], responses=problems(400, 401, 403, 422, 429, 503))


@router.post("/ask", response_model=CollectionAnswer)
async def ask(body: CollectionRequest, caller: SearchCaller, service: ServiceDep) -> CollectionAnswer:
    """A question about the collection ("how many documents per source since May?", "which years have papers
    tagged oncology?") or its plan (group_by, filters, ingested_since/until, order, limit): the table, counted over
    the documents you may see, with chart data and a sentence. A question about the documents' contents, or a plan
    the tenant's schema does not allow, is a 422 saying why."""
    version = await service.versions.current(caller.tenant)
    plan, question = body.plan, ""
    if plan is None:
        question = clean_question(body.question or "", service.settings.max_question_chars)
        plan = await service.collection.recognise(caller, question, version)
        if plan is None:
            raise InvalidArgument(
                "this reads as a question about the documents' contents, not the collection: ask it at /v1/query, "
                "or send a plan"
            )
    return await service.collection.run(caller, plan, question, version)
