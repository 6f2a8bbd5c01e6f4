"""The review queue: answers under the confidence threshold, confused answers and answers with negative feedback,
newest first, for reviewers to label. A label says whether the answer was right and which passages answer the
question (its own passages by number, or ones it missed): these verified labels are what training uses."""

from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import func, select

from services.gateway.learning.feedback import check_indices, feedback_record
from services.gateway.learning.interactions import InteractionLog
from services.gateway.learning.snapshots import judgements
from services.gateway.learning_models import LabelRecord, LabelRequest, PassageRef, ReviewItem, ReviewList
from services.gateway.records.database import Database
from services.gateway.records.models import Feedback, Interaction, Label
from services.runtime.errors import NotFound

Status = Literal["open", "labelled", "all"]


def _label_record(row: Label) -> LabelRecord:
    return LabelRecord(
        answer_id=row.answer_id,
        reviewer=row.reviewer,
        at=row.at.isoformat(),
        correct=row.correct,
        relevant=[PassageRef(**ref) for ref in row.relevant],
        note=row.note,
    )


class Reviews:
    """Lists the tenant's answers that need a reviewer, and records their labels."""

    def __init__(self, database: Database, interactions: InteractionLog, review_below: float) -> None:
        self._db = database
        self._interactions = interactions
        self._below = review_below

    async def queue(self, tenant: str, status: Status, limit: int, offset: int) -> ReviewList:
        await self._interactions.flush()
        where = [Interaction.tenant == tenant, Interaction.needs_review.is_(True)]
        if status == "open":
            where.append(Interaction.reviewed_at.is_(None))
        elif status == "labelled":
            where.append(Interaction.reviewed_at.is_not(None))
        async with self._db.session() as session:
            total = await session.scalar(select(func.count()).select_from(Interaction).where(*where))
            rows = list(
                await session.scalars(
                    select(Interaction).where(*where).order_by(Interaction.at.desc()).limit(limit).offset(offset)
                )
            )
            feedback, labels = await judgements(session, [row.id for row in rows])
        return ReviewList(
            items=[self._item(row, feedback.get(row.id, []), labels.get(row.id)) for row in rows], total=total or 0
        )

    def _item(self, row: Interaction, feedback: list[Feedback], label: Label | None) -> ReviewItem:
        reasons = []
        if row.confidence is not None and row.confidence < self._below:
            reasons.append("low_confidence")
        if row.is_confused:
            reasons.append("confused")
        if any(given.thumb == -1 or (given.rating is not None and given.rating <= 2) for given in feedback):
            reasons.append("negative_feedback")
        return ReviewItem(
            answer_id=row.id,
            at=row.at.isoformat(),
            route=row.route,
            question=row.question,
            answer=row.answer,
            confidence=row.confidence,
            no_context=row.no_context,
            is_confused=row.is_confused,
            degraded=row.degraded,
            model=row.model,
            prompt_version=row.prompt_version,
            reasons=reasons,
            passages=row.passages,
            feedback=[feedback_record(given) for given in feedback],
            label=_label_record(label) if label else None,
        )

    async def label(self, tenant: str, answer_id: str, reviewer: str, request: LabelRequest) -> LabelRecord:
        """Record (or replace) the label of one of the tenant's answers; it leaves the open queue."""
        interaction = await self._interactions.find(tenant, answer_id)
        if interaction is None:
            raise NotFound(f"no answer {answer_id!r} in this tenant")
        check_indices(interaction, request.relevant)
        by_index = {
            p["index"]: {"document_id": p["document_id"], "chunk_index": p["chunk_index"]} for p in interaction.passages
        }
        relevant = [by_index[n] for n in sorted(set(request.relevant))]
        relevant += [ref.model_dump() for ref in request.missing if ref.model_dump() not in relevant]
        now = datetime.now(UTC)
        async with self._db.session() as session:
            row = await session.get(Label, answer_id) or Label(answer_id=answer_id, tenant=tenant)
            row.reviewer, row.at, row.correct, row.relevant, row.note = (
                reviewer,
                now,
                request.correct,
                relevant,
                request.note,
            )
            session.add(row)
            stored = await session.get(Interaction, answer_id)
            stored.reviewed_at = now
            stored.needs_review = True
            await session.flush()
            return _label_record(row)
