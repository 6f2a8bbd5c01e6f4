"""Feedback on an answer from the one who asked it (or an administrator of the tenant): thumbs, a rating, a comment,
and which of its passages were relevant. Negative feedback sends the answer to the review queue."""

import logging
from datetime import UTC, datetime

import grpc
from pydantic import SecretStr
from sqlalchemy import update

from services.gateway.identity import Principal
from services.gateway.learning.adapters import Adapters
from services.gateway.learning.interactions import InteractionLog, pseudonym
from services.gateway.learning.preferences import UserPreferences, judged
from services.gateway.learning.prompts import PIPELINE, PromptRegistry, is_registry_version
from services.gateway.learning_models import FeedbackRecord, FeedbackRequest
from services.gateway.records.database import Database
from services.gateway.records.models import Feedback, Interaction
from services.runtime.errors import InvalidArgument, NotFound

log = logging.getLogger(__name__)
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

    def __init__(
        self,
        database: Database,
        interactions: InteractionLog,
        preferences: UserPreferences,
        adapters: Adapters,
        secret: SecretStr | None,
        prompts: PromptRegistry | None = None,
    ) -> None:
        self._prompts = prompts
        self._db = database
        self._interactions = interactions
        self._preferences = preferences
        self._adapters = adapters
        self._secret = secret

    async def give(self, caller: Principal, answer_id: str, request: FeedbackRequest) -> FeedbackRecord:
        interaction = await self._interactions.find(caller.tenant, answer_id)
        giver = pseudonym(caller, self._secret)
        # Someone else's answer reads as no answer at all: ids are not a way to learn what others asked.
        if interaction is None or not (caller.allows("admin") or interaction.user == giver):
            raise NotFound(f"no answer {answer_id!r} of yours")
        check_indices(interaction, request.relevant + request.not_relevant)
        row = Feedback(
            answer_id=answer_id,
            tenant=caller.tenant,
            user=giver,
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
            record = feedback_record(row)
        if request.negative and interaction.adapter:
            # A canary answered this one: dislikes are what roll a canary back.
            await self._adapters.guard_canary(caller.tenant)
        if request.negative and self._prompts is not None and is_registry_version(interaction.prompt_version):
            await self._prompts.guard_canary(caller.tenant)
        if request.negative and self._prompts is not None and interaction.variant:
            await self._prompts.guard_canary(caller.tenant, PIPELINE)
        if interaction.user == giver:
            # Only the asker's own judgements shape their vector; one the embedder cannot take now is not learned.
            try:
                await self._preferences.learn(caller.tenant, giver, *judged(interaction, request))
            except grpc.aio.AioRpcError as exc:
                log.warning("feedback %d kept but not learned from (%s)", record.id, exc.code().name)
        return record
