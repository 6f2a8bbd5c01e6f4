"""Feedback on an answer from the one who asked it (or an administrator of the tenant): thumbs, a rating, a comment,
and which of its passages were relevant. Negative feedback sends the answer to the review queue."""

from datetime import UTC, datetime

from pydantic import SecretStr
from sqlalchemy import update

from services.gateway.identity import Principal
from services.gateway.learning.interactions import InteractionLog, pseudonym
from services.gateway.learning_models import FeedbackRecord, FeedbackRequest
from services.gateway.records.database import Database
from services.gateway.records.models import Feedback, Interaction
from services.runtime.errors import InvalidArgument, NotFound

THUMBS = {"up": 1, "down": -1}


def feedback_record(row: Feedback) -> FeedbackRecord:
    thumb = {1: "up", -1: "down"}.get(row.thumb) if row.thumb is not None else None
    return FeedbackRecord(
        id=row.id,
        answer_id=row.answer_id,
        at=row.at.isoformat(),
        thumb=thumb,
        rating=row.rating,
        comment=row.comment,
        relevant=list(row.relevant),
        not_relevant=list(row.not_relevant),
    )


def check_indices(interaction: Interaction, indices: list[int]) -> None:
    """Every number must be one of the answer's passages."""
    known = {passage["index"] for passage in interaction.passages}
    if unknown := sorted(set(indices) - known):
        shown = f"1 to {len(known)}" if known else "none"
        raise InvalidArgument(f"the answer has no passage {unknown}: its passages are numbered {shown}")


class FeedbackBook:
    """Takes feedback on the tenant's answers."""

    def __init__(self, database: Database, interactions: InteractionLog, secret: SecretStr | None) -> None:
        self._db = database
        self._interactions = interactions
        self._secret = secret

    async def give(self, caller: Principal, answer_id: str, request: FeedbackRequest) -> FeedbackRecord:
        interaction = await self._interactions.find(caller.tenant, answer_id)
        # Someone else's answer reads as no answer at all: ids are not a way to learn what others asked.
        if interaction is None or not (caller.allows("admin") or interaction.user == pseudonym(caller, self._secret)):
            raise NotFound(f"no answer {answer_id!r} of yours")
        check_indices(interaction, request.relevant + request.not_relevant)
        row = Feedback(
            answer_id=answer_id,
            tenant=caller.tenant,
            user=pseudonym(caller, self._secret),
            at=datetime.now(UTC),
            thumb=THUMBS.get(request.thumb or ""),
            rating=request.rating,
            comment=request.comment,
            relevant=sorted(set(request.relevant)),
            not_relevant=sorted(set(request.not_relevant)),
        )
        async with self._db.session() as session:
            session.add(row)
            if request.negative:
                await session.execute(update(Interaction).where(Interaction.id == answer_id).values(needs_review=True))
            await session.flush()
            return feedback_record(row)
