"""GET /v1/usage (the caller's own requests, tokens, cost, limits and remaining budget) and GET /v1/admin/usage
(per tenant and the top spenders over a period), from the usage ledger in SQL."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from services.gateway.admin_models import (
    AdminUsageReport,
    BudgetStanding,
    RateLimitStanding,
    RouteUsage,
    SpenderUsage,
    TenantUsage,
    UsageReport,
    UsageTotals,
)
from services.gateway.budgets import seconds_to_midnight
from services.gateway.deps import AdminCaller, AnyCaller, LedgerDep, LimiterDep, ServiceDep, SettingsDep
from services.gateway.routes import problems
from services.gateway.tiers import tier_of
from services.gateway.usage import Totals
from services.runtime.errors import InvalidArgument, PermissionDenied

router = APIRouter(prefix="/v1", responses=problems(401, 403, 422))
_LONGEST = timedelta(days=366)

Since = Annotated[
    AwareDatetime | None, Query(description="Start of the period (ISO 8601 with a zone); default: today 00:00 UTC.")
]
Until = Annotated[AwareDatetime | None, Query(description="End of the period, exclusive; default: now.")]


def period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """[since, until): default today 00:00 UTC to now; at most 366 days."""
    now = datetime.now(UTC)
    until = until or now + timedelta(seconds=1)
    since = since or now.replace(hour=0, minute=0, second=0, microsecond=0)
    if since >= until:
        raise InvalidArgument("since must be before until")
    if until - since > _LONGEST:
        raise InvalidArgument("the period is at most 366 days")
    return since, until


def _sums(row: Totals) -> dict[str, object]:
    return {
        "requests": row.requests,
        "cached": row.cached,
        "model_calls": row.model_calls,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "cost_usd": row.cost_usd,
    }


@router.get("/usage", response_model=UsageReport, tags=["usage"])
async def own_usage(
    caller: AnyCaller,
    limiter: LimiterDep,
    ledger: LedgerDep,
    service: ServiceDep,
    settings: SettingsDep,
    since: Since = None,
    until: Until = None,
) -> UsageReport:
    """What the caller's credential used over a period (requests, model calls, tokens, cost by route), its rate
    limits with what is left of them, and today's budgets with what is left of them."""
    start, end = period(since, until)
    await service.spending.flush()
    rows = await ledger.totals(start, end, by=("route",), tenants=[caller.tenant], spender=caller.spender)
    by_route = [RouteUsage(route=row.group[0], **_sums(row)) for row in rows]
    total = UsageTotals(
        **{name: sum(getattr(r, name) for r in by_route) for name in UsageTotals.model_fields if name != "cost_usd"},
        cost_usd=round(sum(r.cost_usd for r in by_route), 6),
    )
    resets = (datetime.now(UTC) + timedelta(seconds=seconds_to_midnight())).replace(microsecond=0).isoformat()
    budgets = [
        BudgetStanding(
            scope=b.scope,
            limit_usd=b.limit_usd,
            spent_usd=b.spent_usd,
            remaining_usd=b.remaining_usd,
            resets_at=resets,
        )
        for b in await service.spending.budgets.state(caller)
    ]
    limits = [
        RateLimitStanding(bucket=bucket, scope=scope, limit=str(item), remaining=remaining, reset_seconds=reset)
        for bucket, scope, item, remaining, reset in await limiter.standing(caller)
    ]
    tier, bounds = tier_of(caller, settings.tiers, settings.default_tier)
    return UsageReport(
        tenant=caller.tenant,
        spender=caller.spender,
        since=start.isoformat(),
        until=end.isoformat(),
        total=total,
        by_route=by_route,
        budgets=budgets,
        rate_limits=limits,
        tier=tier,
        tier_bounds=bounds.model_dump(),
    )


@router.get("/admin/usage", response_model=AdminUsageReport, tags=["admin"])
async def tenants_usage(
    caller: AdminCaller,
    ledger: LedgerDep,
    service: ServiceDep,
    settings: SettingsDep,
    since: Since = None,
    until: Until = None,
    tenant: Annotated[
        str | None, Query(max_length=128, description="Operators: one tenant, or '*' for all (the default).")
    ] = None,
    top: Annotated[int, Query(ge=1, le=100, description="How many top spenders to list.")] = 10,
) -> AdminUsageReport:
    """Use per tenant and the top spenders (dearest first) over a period. An administrator sees its own tenant;
    an operator tenant's administrator sees every tenant, or the one named."""
    start, end = period(since, until)
    operator = caller.tenant in settings.operator_tenants
    if tenant not in (None, caller.tenant) and not operator:
        raise PermissionDenied("only an operator's admin credential may read another tenant's usage")
    tenants = None if operator and tenant in (None, "*") else [tenant or caller.tenant]
    await service.spending.flush()
    per_tenant = await ledger.totals(start, end, by=("tenant",), tenants=tenants)
    spenders = await ledger.totals(start, end, by=("tenant", "spender"), tenants=tenants, order_by_cost=True, limit=top)
    return AdminUsageReport(
        since=start.isoformat(),
        until=end.isoformat(),
        tenants=[TenantUsage(tenant=row.group[0], **_sums(row)) for row in per_tenant],
        top_spenders=[SpenderUsage(tenant=row.group[0], spender=row.group[1], **_sums(row)) for row in spenders],
    )
