"""Online figures per adapter version (0: none), from the interaction log and its feedback: answers, answers with
positive and with negative feedback (thumbs, or a rating of 4-5 / 1-2), no-context answers and cost. What a canary
is judged by against the version served beside it."""

from sqlalchemy import case, func, or_, select

from services.gateway.budgets import MICRO
from services.gateway.learning_models import VersionFigures
from services.gateway.records.database import Database
from services.gateway.records.models import Feedback, Interaction

# What counts as an asker's judgement of an answer, for every figure and canary guard.
DISLIKED = or_(Feedback.thumb == -1, Feedback.rating <= 2)
LIKED = or_(Feedback.thumb == 1, Feedback.rating >= 4)


async def opinions(session, tenant: str, column, keys: list) -> dict[object, tuple[int, int]]:
    """Per value of `column` among `keys`: (answers disliked, answers liked), each answer counted once."""
    judged = await session.execute(
        select(
            column,
            func.count(func.distinct(case((DISLIKED, Interaction.id)))),
            func.count(func.distinct(case((LIKED, Interaction.id)))),
        )
        .join(Feedback, Feedback.answer_id == Interaction.id)
        .where(Interaction.tenant == tenant, column.in_(keys))
        .group_by(column)
    )
    return {key: (int(bad), int(good)) for key, bad, good in judged}


async def version_figures(database: Database, tenant: str, versions: list[int]) -> dict[int, VersionFigures]:
    async with database.session() as session:
        totals = await session.execute(
            select(
                Interaction.adapter,
                func.count(),
                func.coalesce(func.sum(case((Interaction.no_context, 1), else_=0)), 0),
                func.coalesce(func.sum(Interaction.cost_micro_usd), 0),
            )
            .where(Interaction.tenant == tenant, Interaction.adapter.in_(versions))
            .group_by(Interaction.adapter)
        )
        judged = await opinions(session, tenant, Interaction.adapter, versions)
    figures = {version: VersionFigures(version=version) for version in versions}
    for version, answers, no_context, cost in totals:
        bad, good = judged.get(version, (0, 0))
        figures[version] = VersionFigures(
            version=version,
            answers=int(answers),
            negative=bad,
            positive=good,
            no_context=int(no_context),
            cost_usd=int(cost) / MICRO,
        )
    return figures
