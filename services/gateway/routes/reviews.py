"""/v1/admin/reviews: the review queue and reviewers' labels (the admin scope)."""

from typing import Annotated

from fastapi import APIRouter, Query

from services.gateway.deps import AdminCaller, ReviewsDep
from services.gateway.learning.reviews import Status
from services.gateway.learning_models import LabelRecord, LabelRequest, ReviewList
from services.gateway.routes import problems
from services.gateway.routes.feedback import AnswerIdPath

router = APIRouter(prefix="/v1/admin/reviews", tags=["admin"], responses=problems(400, 401, 403, 422))


@router.get("", response_model=ReviewList)
async def review_queue(
    caller: AdminCaller,
    reviews: ReviewsDep,
    status: Status = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ReviewList:
    """Answers that need a reviewer, newest first: confidence under the threshold, confused, or negative feedback
    (`open`: not labelled yet; `labelled`; `all`)."""
    return await reviews.queue(caller.tenant, status, limit, offset)


@router.post("/{answer_id}/label", response_model=LabelRecord, responses=problems(404))
async def label_answer(
    answer_id: AnswerIdPath, body: LabelRequest, caller: AdminCaller, reviews: ReviewsDep
) -> LabelRecord:
    """Label an answer: whether it was right, and which passages answer its question. Labelling again replaces it."""
    reviewer = caller.who
    return await reviews.label(caller.tenant, answer_id, reviewer, body)
