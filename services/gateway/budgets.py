"""Cost budgets: each caller's, tenant's and the suite's daily spend on model calls, reserved atomically in Redis
before a call (its worst case) and settled after it (its real cost), so concurrent requests on any number of
replicas cannot overspend. At 80% of a budget a warning is logged and a metric set; at 90% answers are kept short;
at 100% the call is refused until the day (UTC) ends. Amounts are kept in micro-dollars (integers: exact)."""

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis.asyncio as redis
from prometheus_client import Gauge

from services.gateway.identity import Principal
from services.runtime.errors import ServiceError

log = logging.getLogger(__name__)
SPENT = Gauge("ragmesh_gateway_budget_used_ratio", "Share of a daily budget spent, by scope.", ["scope"])
MICRO = 1_000_000

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
    """Daily limits in US dollars (0: none) and the price used when a provider reports no cost."""

    user_usd: float = 5.0
    tenant_usd: float = 0.0
    suite_usd: float = 100.0
    price_per_1k_tokens_usd: float = 0.0


class Budgets:
    """Reserves and settles model-call costs against every budget in scope."""

    def __init__(self, client: redis.Redis, policy: BudgetPolicy) -> None:
        self._redis = client
        self._policy = policy
        self._reserve = client.register_script(_RESERVE)

    def worst_case_usd(self, prompt_tokens: int, max_tokens: int) -> float:
        return (prompt_tokens + max_tokens) / 1000 * self._policy.price_per_1k_tokens_usd

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

    async def reserve(self, caller: Principal, worst_case_usd: float) -> Reservation:
        """Charge the worst case to every budget in scope, or refuse (BudgetExceeded) charging none."""
        scopes = self._scopes(caller)
        amount = round(worst_case_usd * MICRO)
        if not scopes or amount <= 0:
            return Reservation()
        keys = [key for key, _ in scopes]
        limits = [round(limit * MICRO) for _, limit in scopes]
        spent = [int(v or 0) for v in await self._redis.mget(keys)]
        refused = await self._reserve(keys=keys, args=[amount, 2 * 86_400, *limits])
        if refused:
            key, limit = scopes[int(refused) - 1]
            scope = key.split(":")[3]
            raise BudgetExceeded(
                f"the {scope} daily budget of ${limit:.2f} is spent; it resets at 00:00 UTC", _seconds_to_midnight()
            )
        shares = [already / limit for already, limit in zip(spent, limits, strict=True)]
        for key, share in zip(keys, shares, strict=True):
            SPENT.labels(key.split(":")[3]).set(share)
            if share >= 0.8:
                log.warning("budget %s is %.0f%% spent", key, share * 100)
        return Reservation(keys, amount, max(shares))

    async def settle(self, reservation: Reservation, actual_usd: float) -> None:
        """Replace the reserved worst case by the real cost (a refund when it cost less)."""
        if not reservation.keys:
            return
        delta = round(actual_usd * MICRO) - reservation.amount
        if delta:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in reservation.keys:
                    pipe.incrby(key, delta)
                await pipe.execute()


def _seconds_to_midnight() -> int:
    now = time.time()
    return int(86_400 - now % 86_400) + 1
