"""POST /v1/answers/{answer_id}/feedback: the asker's thumbs, rating, comment and passage judgements."""

from typing import Annotated

from fastapi import APIRouter, Path

from services.gateway.deps import FeedbackDep, QueryCaller
from services.gateway.learning_models import FeedbackRecord, FeedbackRequest
from services.gateway.routes import problems

AnswerIdPath = Annotated[str, Path(pattern=r"^ans_[0-9a-f]{32}$", description="The answer_id a response carried.")]
router = APIRouter(prefix="/v1/answers", tags=["feedback"], responses=problems(400, 401, 403, 404, 422))


@router.post("/{answer_id}/feedback", response_model=FeedbackRecord, status_code=201)
async def give_feedback(
    answer_id: AnswerIdPath, body: FeedbackRequest, caller: QueryCaller, book: FeedbackDep
) -> FeedbackRecord:
    """Say what you thought of an answer you were given (an admin may for any of the tenant's). A thumbs-down or a
    rating of 2 or less puts the answer in the review queue."""
    return await book.give(caller, answer_id, body)
