"""Cost budgets: each caller's, tenant's and the suite's daily spend on model calls, reserved atomically in Redis
before a call (its worst case) and settled after it (its real cost), so concurrent requests on any number of
replicas cannot overspend. At 80% of a budget a warning is logged, a metric set and, once a day per budget and
threshold, an alert posted to the configured webhook; at 90% the request tightens (spending.py); at 100% the call is
refused until the day (UTC) ends. Amounts are kept in micro-dollars (integers: exact)."""

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import redis.asyncio as redis
from prometheus_client import Counter, Gauge

from services.gateway.identity import Principal
from services.runtime.errors import ServiceError, Unavailable

log = logging.getLogger(__name__)
SPENT = Gauge("ragmesh_gateway_budget_used_ratio", "Share of a daily budget spent, by scope.", ["scope"])
ALERTS = Counter(
    "ragmesh_gateway_budget_alerts_total", "Budget alerts raised, by scope and threshold.", ["scope", "at"]
)
MICRO = 1_000_000
ALERT_AT = (0.8, 0.9, 1.0)
# Budgets must be exact: when Redis cannot answer, spending is refused (503), never let through uncounted.
_UNCHECKED = "cost budgets cannot be checked right now (their store did not answer); try again shortly"

# All budgets checked, then all charged, in one step: either every scope can take the amount or none is charged.
_RESERVE = """
local amount = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i + 2])
  if limit > 0 and tonumber(redis.call('GET', key) or '0') + amount > limit then return i end
end
for i, key in ipairs(KEYS) do
  redis.call('INCRBY', key, amount)
  redis.call('EXPIRE', key, tonumber(ARGV[2]))
end
return 0
"""


class BudgetExceeded(ServiceError):
    """A daily budget is spent; the caller may retry when the day ends."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.limit = 0
        self.retry_after = retry_after


@dataclass
class Reservation:
    keys: list[str] = field(default_factory=list)
    amount: int = 0
    # The most a budget in scope had spent before this call, as a share (0 to 1).
    used: float = 0.0


@dataclass(frozen=True)
class BudgetPolicy:
    """Daily limits in US dollars (0: none), the price used when a provider reports no cost, and where alerts go."""

    user_usd: float = 5.0
    tenant_usd: float = 0.0
    suite_usd: float = 100.0
    price_per_1k_tokens_usd: float = 0.0
    alert_webhook_url: str = ""


@dataclass(frozen=True)
class Prices:
    """What the models charge per token, in US dollars (the generator's Describe, from LiteLLM's price map)."""

    input_usd_per_token: float = 0.0
    output_usd_per_token: float = 0.0


@dataclass(frozen=True)
class BudgetState:
    """One budget in scope for a caller, today."""

    scope: str
    limit_usd: float
    spent_usd: float

    @property
    def remaining_usd(self) -> float:
        return max(0.0, self.limit_usd - self.spent_usd)


class Budgets:
    """Reserves and settles model-call costs against every budget in scope."""

    def __init__(self, client: redis.Redis, policy: BudgetPolicy) -> None:
        self._redis = client
        self._policy = policy
        self._reserve = client.register_script(_RESERVE)
        self._alerts: set[asyncio.Task] = set()

    def worst_case_usd(self, prompt_tokens: int, max_tokens: int, prices: Prices = Prices()) -> float:
        """The most a call can cost: the dearest of the models' prices and the configured one."""
        configured = self._policy.price_per_1k_tokens_usd / 1000
        return prompt_tokens * max(prices.input_usd_per_token, configured) + max_tokens * max(
            prices.output_usd_per_token, configured
        )

    def actual_usd(self, reported: float, prompt_tokens: int, completion_tokens: int) -> float:
        """The provider's price when it gives one, else the configured price per 1k tokens."""
        return reported or (prompt_tokens + completion_tokens) / 1000 * self._policy.price_per_1k_tokens_usd

    def _scopes(self, caller: Principal) -> list[tuple[str, float]]:
        day = datetime.now(UTC).strftime("%Y%m%d")
        p = self._policy
        scopes = []
        who = caller.spender
        if who and p.user_usd:
            scopes.append((f"ragmesh:budget:{day}:caller:{caller.tenant}:{who}", p.user_usd))
        if p.tenant_usd:
            scopes.append((f"ragmesh:budget:{day}:tenant:{caller.tenant}", p.tenant_usd))
        if p.suite_usd:
            scopes.append((f"ragmesh:budget:{day}:suite", p.suite_usd))
        return scopes

    async def state(self, caller: Principal) -> list[BudgetState]:
        """Today's budgets in scope for the caller, with what is spent (reserved calls included)."""
        scopes = self._scopes(caller)
        try:
            spent = await self._redis.mget([key for key, _ in scopes]) if scopes else []
        except redis.RedisError as exc:
            raise Unavailable(_UNCHECKED) from exc
        return [
            BudgetState(key.split(":")[3], limit, int(used or 0) / MICRO)
            for (key, limit), used in zip(scopes, spent, strict=True)
        ]

    async def reserve(self, caller: Principal, worst_case_usd: float) -> Reservation:
        """Charge the worst case to every budget in scope, or refuse (BudgetExceeded) charging none. A call that
        cannot be priced beforehand reserves one micro-dollar: it is refused once a budget is spent, and its real
        cost is still charged when it settles. Unavailable when Redis does not answer."""
        try:
            return await self._reserve_in_redis(caller, worst_case_usd)
        except redis.RedisError as exc:
            raise Unavailable(_UNCHECKED) from exc

    async def _reserve_in_redis(self, caller: Principal, worst_case_usd: float) -> Reservation:
        scopes = self._scopes(caller)
        amount = max(1, round(worst_case_usd * MICRO))
        if not scopes:
            return Reservation()
        keys = [key for key, _ in scopes]
        limits = [round(limit * MICRO) for _, limit in scopes]
        spent = [int(v or 0) for v in await self._redis.mget(keys)]
        refused = await self._reserve(keys=keys, args=[amount, 2 * 86_400, *limits])
        if refused:
            key, limit = scopes[int(refused) - 1]
            scope = key.split(":")[3]
            await self._alert(key, 1.0, round(limit * MICRO))
            raise BudgetExceeded(
                f"the {scope} daily budget of ${limit:.2f} is spent; it resets at 00:00 UTC", seconds_to_midnight()
            )
        shares = [already / limit for already, limit in zip(spent, limits, strict=True)]
        for key, share in zip(keys, shares, strict=True):
            SPENT.labels(key.split(":")[3]).set(share)
            if share >= ALERT_AT[0]:
                log.warning("budget %s is %.0f%% spent", key, share * 100)
                await self._alert(key, share, limits[keys.index(key)])
        return Reservation(keys, amount, max(shares))

    async def _alert(self, key: str, share: float, limit: int) -> None:
        """Once a day per budget and threshold (whichever replica gets there first): a metric, and a POST to the
        webhook in the background (a slow or failing webhook never holds up a request)."""
        at = max(t for t in ALERT_AT if share >= t)
        if not await self._redis.set(f"ragmesh:budget-alert:{key}:{at}", "1", nx=True, ex=2 * 86_400):
            return
        _, _, day, scope, *who = key.split(":")
        ALERTS.labels(scope, str(at)).inc()
        if not self._policy.alert_webhook_url:
            return
        alert = {
            "alert": "ragmesh_budget",
            "scope": scope,
            "budget": ":".join(who) or "suite",
            "day": day,
            "threshold": at,
            "used_ratio": round(share, 4),
            "limit_usd": limit / MICRO,
        }
        task = asyncio.create_task(self._post(alert))
        self._alerts.add(task)
        task.add_done_callback(self._alerts.discard)

    async def _post(self, alert: dict) -> None:
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                (await client.post(self._policy.alert_webhook_url, json=alert)).raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("budget alert webhook failed: %s", exc)

    async def settle(self, reservation: Reservation, actual_usd: float) -> None:
        """Replace the reserved worst case by the real cost (a refund when it cost less)."""
        if not reservation.keys:
            return
        delta = round(actual_usd * MICRO) - reservation.amount
        if not delta:
            return
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in reservation.keys:
                    pipe.incrby(key, delta)
                await pipe.execute()
        except redis.RedisError as exc:
            # The worst case stays charged: the budget errs towards refusing, never towards overspending.
            log.warning("budget settlement lost (%s); the call's worst case stays charged", exc)


def seconds_to_midnight() -> int:
    now = time.time()
    return int(86_400 - now % 86_400) + 1
