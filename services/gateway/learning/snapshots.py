"""Dataset snapshots: the tenant's interactions in a time window, each with its feedback and its label, as JSON
lines, oldest first: what training and offline evaluation read, and what `ragmesh export` stores as a versioned file
(named by the window's end and the content's digest) in a folder or an S3 bucket."""

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.records.database import Database
from services.gateway.records.models import Feedback, Interaction, Label

PAGE = 500


def _row(interaction: Interaction, feedback: list[Feedback], label: Label | None) -> dict[str, object]:
    return {
        "answer_id": interaction.id,
        "at": interaction.at.isoformat(),
        "user": interaction.user,
        "route": interaction.route,
        "question": interaction.question,
        "question_hash": interaction.question_hash,
        "filters": interaction.filters,
        "passages": interaction.passages,
        "answer": interaction.answer,
        "confidence": interaction.confidence,
        "no_context": interaction.no_context,
        "is_confused": interaction.is_confused,
        "degraded": interaction.degraded,
        "cached": interaction.cached,
        "model": interaction.model,
        "prompt_version": interaction.prompt_version,
        "variant": interaction.variant,
        "steering": interaction.steering,
        "timings_ms": interaction.timings_ms,
        "cost_micro_usd": interaction.cost_micro_usd,
        "feedback": [
            {
                "at": given.at.isoformat(),
                "user": given.user,
                "thumb": given.thumb,
                "rating": given.rating,
                "comment": given.comment,
                "relevant": given.relevant,
                "not_relevant": given.not_relevant,
            }
            for given in feedback
        ],
        "label": None
        if label is None
        else {
            "reviewer": label.reviewer,
            "at": label.at.isoformat(),
            "correct": label.correct,
            "relevant": label.relevant,
            "note": label.note,
        },
    }


async def judgements(session: AsyncSession, ids: list[str]) -> tuple[dict[str, list[Feedback]], dict[str, Label]]:
    """The feedback (oldest first) and the labels of these answers, by answer id."""
    given: dict[str, list[Feedback]] = {}
    for row in await session.scalars(select(Feedback).where(Feedback.answer_id.in_(ids)).order_by(Feedback.id)):
        given.setdefault(row.answer_id, []).append(row)
    labels = {row.answer_id: row for row in await session.scalars(select(Label).where(Label.answer_id.in_(ids)))}
    return given, labels


async def snapshot(
    database: Database, tenant: str, since: datetime, until: datetime, labelled_only: bool
) -> AsyncIterator[dict[str, object]]:
    """The window [since, until) page by page (each page one short read)."""
    after: tuple[datetime, str] | None = None
    while True:
        query = select(Interaction).where(Interaction.tenant == tenant, Interaction.at >= since, Interaction.at < until)
        if after is not None:
            query = query.where(
                (Interaction.at > after[0]) | ((Interaction.at == after[0]) & (Interaction.id > after[1]))
            )
        if labelled_only:
            query = query.where(Interaction.reviewed_at.is_not(None))
        async with database.session() as session:
            page = list(await session.scalars(query.order_by(Interaction.at, Interaction.id).limit(PAGE)))
            given, labels = await judgements(session, [row.id for row in page])
        for row in page:
            yield _row(row, given.get(row.id, []), labels.get(row.id))
        if len(page) < PAGE:
            return
        after = (page[-1].at, page[-1].id)
