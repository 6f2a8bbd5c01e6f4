"""The usage ledger: one row per request in the gateway's SQL database (who, which route, how many model calls,
tokens, the exact cost in micro-dollars), and the sums that GET /v1/usage and GET /v1/admin/usage report. Budgets
in Redis decide what may be spent today; this is what was spent, kept for as long as the database is."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, insert, select
from sqlalchemy.sql import Select

from services.gateway.budgets import MICRO
from services.gateway.identity import Principal
from services.gateway.models import Usage
from services.gateway.records.database import Database
from services.gateway.records.models import UsageRecord


@dataclass(frozen=True)
class Totals:
    """Sums over ledger rows grouped by `group` (a route, a tenant, or a tenant's spender)."""

    group: tuple[str, ...]
    requests: int
    cached: int
    model_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


_SUMS = (
    func.count(UsageRecord.id),
    func.coalesce(func.sum(case((UsageRecord.cached, 1), else_=0)), 0),
    func.coalesce(func.sum(UsageRecord.model_calls), 0),
    func.coalesce(func.sum(UsageRecord.prompt_tokens), 0),
    func.coalesce(func.sum(UsageRecord.completion_tokens), 0),
    func.coalesce(func.sum(UsageRecord.cost_micro_usd), 0),
)


class UsageLedger:
    """Appends a row per request; sums rows over a period."""

    def __init__(self, database: Database) -> None:
        self._db = database

    @staticmethod
    def line(caller: Principal, route: str, usage: Usage, cost_micro_usd: int, cached: bool) -> dict[str, object]:
        """One request's row, as `record` takes it."""
        return {
            "at": datetime.now(UTC),
            "tenant": caller.tenant,
            "spender": caller.spender,
            "route": route,
            "cached": cached,
            "model_calls": usage.model_calls,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_micro_usd": cost_micro_usd,
        }

    async def record(self, lines: list[dict[str, object]]) -> None:
        """Append rows made by `line`, in one transaction (one executemany)."""
        async with self._db.session() as session:
            await session.execute(insert(UsageRecord), lines)

    async def totals(
        self,
        since: datetime,
        until: datetime,
        by: tuple[str, ...],
        tenants: list[str] | None = None,
        spender: str | None = None,
        order_by_cost: bool = False,
        limit: int | None = None,
    ) -> list[Totals]:
        """Sums of the rows in [since, until) grouped by the named columns, for the given tenants (None: all) and
        spender (None: all); the dearest first when asked."""
        columns = [getattr(UsageRecord, name) for name in by]
        query: Select = select(*columns, *_SUMS).where(UsageRecord.at >= since, UsageRecord.at < until)
        if tenants is not None:
            query = query.where(UsageRecord.tenant.in_(tenants))
        if spender is not None:
            query = query.where(UsageRecord.spender == spender)
        query = query.group_by(*columns)
        query = query.order_by(_SUMS[-1].desc(), *columns) if order_by_cost else query.order_by(*columns)
        if limit is not None:
            query = query.limit(limit)
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
        width = len(columns)
        return [
            Totals(
                group=tuple(row[:width]),
                requests=int(row[width]),
                cached=int(row[width + 1]),
                model_calls=int(row[width + 2]),
                prompt_tokens=int(row[width + 3]),
                completion_tokens=int(row[width + 4]),
                cost_usd=int(row[width + 5]) / MICRO,
            )
            for row in rows
        ]
