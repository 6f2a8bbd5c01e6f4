"""The prompt registry: versions of a tenant's instruction per role, kept in the records database beside the
built-in ones in the code; served to everyone, or to a sticky share of users as a canary beside what everyone gets
(the A/B test), promoted or rolled back; figures per version from the interaction log. Held in each replica's memory
for `keep_seconds` (a change made on this replica is seen at once). Roles: "answer" (the instruction every answer is
written under, sent to the generator), and "verify", "self_query", "compression" and "rewrite" (the instructions of
the gateway's Extract calls, see `Instructions`)."""

import logging
import re
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter

from pydantic import SecretStr
from sqlalchemy import case, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from services.gateway.budgets import MICRO
from services.gateway.identity import Principal
from services.gateway.learning.adapters import bucket
from services.gateway.learning.figures import DISLIKED, opinions
from services.gateway.learning.held import Held
from services.gateway.learning.interactions import pseudonym
from services.gateway.learning_models import PromptFigures, PromptInfo
from services.gateway.records.database import Database
from services.gateway.records.models import Feedback, Interaction, PromptVersion
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger(__name__)
# What each role's instruction is for: answer (Generate), and the Extract calls the gateway makes; "pipeline" holds
# /v1/query options as JSON instead (learning/variants.py), recorded on each answer as its variant.
ROLES = ("answer", "verify", "self_query", "compression", "rewrite", "pipeline")
PIPELINE = "pipeline"


def recorded_as(role: str):
    """The interaction column that names the version an answer was given under."""
    return Interaction.variant if role == PIPELINE else Interaction.prompt_version


_VERSION = re.compile(r"[a-z_]+-t\d+")
SERVED = ("serving", "canary")


@dataclass(frozen=True)
class ChosenPrompt:
    """The instruction this asker's answer is written under."""

    version: str
    instruction: str


def is_registry_version(version: str) -> bool:
    """Whether a prompt version is one of a tenant's (answer-t3), not the generator's built-in one."""
    return _VERSION.fullmatch(version) is not None


def prompt_info(row: PromptVersion) -> PromptInfo:
    return PromptInfo(
        role=row.role,
        version=row.version,
        instruction=row.instruction,
        note=row.note,
        status=row.status,
        share=row.share,
        created_at=row.created_at.isoformat(),
        created_by=row.created_by,
        served_at=row.served_at.isoformat() if row.served_at else None,
    )


class PromptRegistry:
    """Versions per tenant and role, and which one each user gets."""

    def __init__(
        self, database: Database, keep_seconds: float, canary_least_answers: int = 20, canary_most_extra: float = 0.1
    ) -> None:
        self._db = database
        self._least = canary_least_answers
        self._extra = canary_most_extra
        self._held: Held[tuple[str, str], list[tuple[float, ChosenPrompt]]] = Held(keep_seconds)

    async def create(self, tenant: str, role: str, instruction: str, note: str, by: str) -> PromptInfo:
        async with self._db.session() as session:
            latest = await session.scalar(
                select(func.max(PromptVersion.number)).where(PromptVersion.tenant == tenant, PromptVersion.role == role)
            )
            number = int(latest or 0) + 1
            row = PromptVersion(
                tenant=tenant,
                role=role,
                version=f"{role}-t{number}",
                number=number,
                instruction=instruction.strip(),
                note=note,
                status="draft",
                share=0.0,
                created_at=datetime.now(UTC),
                created_by=by,
            )
            session.add(row)
            return prompt_info(row)

    async def listed(self, tenant: str, role: str) -> list[PromptInfo]:
        async with self._db.session() as session:
            rows = await session.scalars(
                select(PromptVersion)
                .where(PromptVersion.tenant == tenant, PromptVersion.role == role)
                .order_by(PromptVersion.number.desc())
            )
            return [prompt_info(row) for row in rows]

    async def serve(self, tenant: str, role: str, version: str, share: float) -> PromptInfo:
        """To everyone (share 1: promoted; the version served before retires) or to that share of users as the
        canary beside it (a previous canary retires)."""
        async with self._db.session() as session:
            rows = {row.version: row for row in await self._rows(session, tenant, role)}
            chosen = rows.get(version)
            if chosen is None:
                raise NotFound(f"no {role} prompt version {version!r} in this tenant")
            replaced = "serving" if share >= 1 else "canary"
            for row in rows.values():
                if row.status == replaced and row.version != version:
                    row.status = "retired"
            chosen.status, chosen.share, chosen.served_at = replaced, min(share, 1.0), datetime.now(UTC)
            info = prompt_info(chosen)
        self._held.forget((tenant, role))
        return info

    async def rollback(self, tenant: str, role: str) -> list[PromptInfo]:
        """Stop the canary if there is one; else stop serving the promoted version (the built-in answers again)."""
        async with self._db.session() as session:
            rows = await self._rows(session, tenant, role)
            changed = [row for row in rows if row.status == "canary"] or [r for r in rows if r.status == "serving"]
            if not changed:
                raise FailedPrecondition(f"no {role} prompt is served: there is nothing to roll back")
            for row in changed:
                row.status = "retired"
            infos = [prompt_info(row) for row in changed]
        self._held.forget((tenant, role))
        return infos

    @staticmethod
    async def _rows(session, tenant: str, role: str) -> list[PromptVersion]:
        query = select(PromptVersion).where(PromptVersion.tenant == tenant, PromptVersion.role == role)
        return list(await session.scalars(query.with_for_update()))

    async def named(self, tenant: str, role: str, version: str) -> ChosenPrompt:
        """A version asked for by name (a profile's, or a request's): InvalidArgument when the tenant has none."""
        async with self._db.session() as session:
            row = await session.get(PromptVersion, (tenant, role, version))
        if row is None:
            raise InvalidArgument(f"no {role} prompt version {version!r} in this tenant's registry")
        return ChosenPrompt(row.version, row.instruction)

    async def chosen(self, tenant: str, role: str, user: str) -> ChosenPrompt | None:
        """The version this user gets (the canary for its share of users, sticky), or None: the built-in."""

        async def load() -> list[tuple[float, ChosenPrompt]]:
            async with self._db.session() as session:
                rows = await session.scalars(
                    select(PromptVersion).where(
                        PromptVersion.tenant == tenant, PromptVersion.role == role, PromptVersion.status.in_(SERVED)
                    )
                )
                # The canary first: its users take it, everyone else the version served to all.
                return sorted(
                    ((row.share, ChosenPrompt(row.version, row.instruction)) for row in rows), key=itemgetter(0)
                )

        try:
            served = await self._held.get((tenant, role), load)
        except (OperationalError, SQLAlchemyTimeoutError) as exc:
            log.warning("prompt registry unavailable (%s); answering with the built-in prompt", type(exc).__name__)
            return None
        for share, prompt in served:
            if share >= 1 or bucket(f"{role}:{user}") < share:
                return prompt
        return None

    async def guard_canary(self, tenant: str, role: str = "answer") -> PromptInfo | None:
        """Roll the canary back when, over at least `canary_least_answers` of its answers since it was served, the
        share its askers disliked, or the share that failed to generate (degraded), exceeds that of every other
        answer of the same period by more than `canary_most_extra`; the version rolled back, or None."""
        async with self._db.session() as session:
            canary = await session.scalar(
                select(PromptVersion).where(
                    PromptVersion.tenant == tenant, PromptVersion.role == role, PromptVersion.status == "canary"
                )
            )
            if canary is None or canary.served_at is None:
                return None
            arms = await _arms(session, tenant, recorded_as(role) == canary.version, canary.served_at)
        mine, rest = arms.get(True, (0, 0, 0)), arms.get(False, (0, 0, 0))
        if mine[0] < self._least:
            return None
        rates = [(m / mine[0], r / rest[0] if rest[0] else 0.0) for m, r in zip(mine[1:], rest[1:], strict=True)]
        worse = [
            (what, m, r) for what, (m, r) in zip(("disliked", "degraded"), rates, strict=True) if m > r + self._extra
        ]
        if not worse:
            return None
        what, m, r = worse[0]
        reason = f"rolled back automatically: {m:.0%} of its {mine[0]} answers {what}, against {r:.0%} of the rest"
        async with self._db.session() as session:
            row = await session.get(PromptVersion, (tenant, role, canary.version))
            if row is None or row.status != "canary":
                return None
            row.status, row.note = "retired", f"{row.note} [{reason}]".strip()
            info = prompt_info(row)
        self._held.forget((tenant, role))
        log.warning("prompt %s %s: %s", tenant, canary.version, reason)
        return info

    async def figures(self, tenant: str, versions: list[str], role: str = "answer") -> list[PromptFigures]:
        """Per version: answers, liked and disliked shares, no-context and citing shares, median latency, cost."""
        column = recorded_as(role)
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(
                        column.label("version"),
                        Interaction.no_context,
                        Interaction.passages,
                        Interaction.timings_ms,
                        Interaction.cost_micro_usd,
                    ).where(
                        Interaction.tenant == tenant,
                        Interaction.route == "query",
                        column.in_(versions),
                    )
                )
            ).all()
            judged = await opinions(session, tenant, column, versions)
        figures = []
        for version in versions:
            mine = [row for row in rows if row.version == version]
            n = len(mine)
            bad, good = judged.get(version, (0, 0))
            latencies = [sum(float(v) for v in (row.timings_ms or {}).values()) for row in mine]
            figures.append(
                PromptFigures(
                    version=version,
                    answers=n,
                    positive_rate=good / n if n else 0.0,
                    negative_rate=bad / n if n else 0.0,
                    no_context_rate=sum(row.no_context for row in mine) / n if n else 0.0,
                    cited_rate=sum(any(p.get("cited") for p in row.passages or []) for row in mine) / n if n else 0.0,
                    latency_ms_p50=round(statistics.median(latencies), 2) if latencies else 0.0,
                    cost_usd=sum(row.cost_micro_usd for row in mine) / MICRO,
                )
            )
        return figures


async def _arms(session, tenant: str, arm, since: datetime) -> dict[bool, tuple[int, int, int]]:
    """(answers, disliked, degraded) of the canary's answers (`arm` true) and of every other answer since `since`."""
    disliked = select(Feedback.answer_id).where(Feedback.tenant == tenant, DISLIKED)
    rows = await session.execute(
        select(
            arm,
            func.count(),
            func.coalesce(func.sum(case((Interaction.id.in_(disliked), 1), else_=0)), 0),
            func.coalesce(func.sum(case((Interaction.degraded, 1), else_=0)), 0),
        )
        .where(Interaction.tenant == tenant, Interaction.route == "query", Interaction.at >= since)
        .group_by(arm)
    )
    return {bool(is_canary): (int(n), int(bad), int(failed)) for is_canary, n, bad, failed in rows}


class Instructions:
    """The instruction a role's model call is made under for a caller: the tenant's registry version served to them,
    else the built-in one. Without a registry (tools, evaluations), always the built-in."""

    def __init__(self, registry: PromptRegistry | None = None, secret: SecretStr | None = None) -> None:
        self._registry = registry
        self._secret = secret

    async def of(self, caller: Principal, role: str, built_in: str) -> str:
        if self._registry is None:
            return built_in
        chosen = await self._registry.chosen(caller.tenant, role, pseudonym(caller, self._secret))
        return chosen.instruction if chosen else built_in
