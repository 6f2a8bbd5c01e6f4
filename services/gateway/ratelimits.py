"""Rate limits that every gateway replica agrees on: the `limits` library's moving windows in Redis.

Tiers per caller (a stored key, or a JWT's user; bootstrap keys from configuration are the operators' and are
exempt), per tenant and global, each per bucket: `answer` (generated answers: /v1/query, /v1/verify), `search`
(retrieval only, cheaper) and `ingest`. A stored key may carry its own tiers. On top, a cap on each tenant's requests
in flight (a Redis sorted set of expiring slots, so a replica that dies holds none for long). A refusal names the
limit and when to retry; the route answers 429 with Retry-After and RateLimit-* headers.

A request is admitted in one round trip (`_ADMIT`): the library makes one per tier and one more to read a window for
the headers, and that waiting was most of what a limited request paid here. Slots given back ride on the replica's
next admission (or go on their own within `RELEASE_LINGER_SECONDS`), so that a request costs one round trip, not two.

When Redis cannot answer (down, paused, past its short deadline), each replica counts in its own memory instead
(the same tiers, per replica) until Redis answers again: requests are still limited, never refused for it.
"""

import asyncio
import functools
import logging
import secrets
import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from itertools import chain, count

import redis.asyncio as redis
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from prometheus_client import Counter

from services.gateway.identity import Principal
from services.gateway.metrics import RATE_LIMITED
from services.runtime.errors import ServiceError

log = logging.getLogger(__name__)
BUCKETS = ("answer", "search", "ingest")
LOCAL = Counter(
    "ragmesh_gateway_rate_limits_local_total", "Requests limited in this replica's memory because Redis did not answer."
)
# What Redis failing looks like through redis-py and through the limits library.
REDIS_FAILURES = (redis.RedisError, StorageError, OSError, asyncio.TimeoutError)
# How long a slot given back waits for the replica's next admission to take it along to Redis.
RELEASE_LINGER_SECONDS = 0.05

# The limits library's moving windows (under "LIMITS:<item.key_for(...)>", a list of timestamps, newest first, as its
# acquire_moving_window.lua keeps them, so `standing` reads them through the library), in one step: every tier is
# checked, then the tenant's in-flight cap, and only then are all windows and the slot taken (a refused request
# counts nowhere). KEYS: the tiers' windows, then the tenant's slots. ARGV: now, cost, number of tiers, (limit,
# expiry) per tier, in-flight cap, the slot's expiry, the slot's member, the slots' key TTL. Returns {0, entries in
# the first tier's window, its oldest entry}, {tier, the entry that must expire first} when a tier is spent, or {-1}
# when the in-flight cap is reached. First, slots this replica gave back since its last admission are removed: KEYS
# after the tenant's slots, their members after the other ARGV. All keys in one Redis (as the budgets' script): not a
# Redis Cluster.
_ADMIT = """
local now, cost, tiers = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for j = tiers + 2, #KEYS do redis.call('ZREM', KEYS[j], ARGV[6 + 2 * tiers + j - tiers]) end
for i = 1, tiers do
  local limit, expiry = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  if cost > limit then return {i, ARGV[1]} end
  local entry = redis.call('LINDEX', KEYS[i], limit - cost)
  if entry and tonumber(entry) >= now - expiry then return {i, entry} end
end
local cap, slots = tonumber(ARGV[4 + 2 * tiers]), KEYS[tiers + 1]
if cap > 0 then
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
  if redis.call('ZCARD', slots) >= cap then return {-1} end
  redis.call('ZADD', slots, ARGV[5 + 2 * tiers], ARGV[6 + 2 * tiers])
  redis.call('EXPIRE', slots, ARGV[7 + 2 * tiers])
end
for i = 1, tiers do
  for _ = 1, cost do redis.call('LPUSH', KEYS[i], ARGV[1]) end
  redis.call('LTRIM', KEYS[i], 0, tonumber(ARGV[2 + 2 * i]) - 1)
  redis.call('EXPIRE', KEYS[i], ARGV[3 + 2 * i])
end
if tiers == 0 then return {0, 0, ARGV[1]} end
-- The first tier's window: the last (oldest) entry still inside it, by bisection (entries are newest first).
local low, high, oldest = 0, redis.call('LLEN', KEYS[1]) - 1, 0
local since = now - tonumber(ARGV[5])
while low <= high do
  local mid = math.floor((low + high) / 2)
  if tonumber(redis.call('LINDEX', KEYS[1], mid)) >= since then oldest = mid; low = mid + 1 else high = mid - 1 end
end
return {0, oldest + 1, redis.call('LINDEX', KEYS[1], oldest)}
"""


class RateLimited(ServiceError):
    """A limit is spent; the caller may retry after `retry_after` seconds."""

    def __init__(self, message: str, limit: int, retry_after: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after = max(1, retry_after)


@dataclass
class Admitted:
    """What an admitted request may tell its caller (the tightest tier), and its in-flight slot to give back."""

    limit: int = 0
    remaining: int = 0
    reset_seconds: int = 0
    slot: tuple[str, str] | None = None

    def headers(self) -> dict[str, str]:
        if not self.limit:
            return {}
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


@dataclass
class LimitPolicy:
    """Tiers by bucket (strings like "10/minute"), for callers, tenants and the whole suite."""

    caller: dict[str, list[str]] = field(default_factory=dict)
    tenant: dict[str, list[str]] = field(default_factory=dict)
    per_tenant: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    suite: dict[str, list[str]] = field(default_factory=dict)
    tenant_in_flight: int = 0
    in_flight_seconds: float = 300.0


def _items(tiers: list[str]) -> list[RateLimitItem]:
    return [item for tier in tiers for item in _parsed(tier)]


@functools.lru_cache(maxsize=1024)
def _parsed(tier: str) -> list[RateLimitItem]:
    # Every request reads its tiers; a key's own come from its record, so they are cached by their text.
    return parse_many(tier)


class RateLimiter:
    """Admits or refuses requests against every tier that applies to them."""

    def __init__(self, client: redis.Redis, policy: LimitPolicy) -> None:
        # The library reads the shared windows (`standing`) over the client's own connections (a pool of its own
        # would open its first connection, under the client's short timeouts, only when someone asks), and counts
        # in this replica's memory when Redis is away.
        self._shared = MovingWindowRateLimiter(
            RedisStorage(
                "async+redis://", implementation="redispy", wrap_exceptions=True, connection_pool=client.connection_pool
            )
        )
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._local_in_flight: Tally[str] = Tally()
        # (slots key, member, turn) given back and not yet removed in Redis, oldest first.
        self._given_back: list[tuple[str, str, int]] = []
        self._turns = count()
        self._redis = client
        self._admit_script = client.register_script(_ADMIT)
        self._policy = policy

    def _tiers(self, caller: Principal, bucket: str, key_tiers: dict[str, list[str]] | None) -> list[tuple]:
        """(limit, identifiers) for every tier that applies, tightest scope first."""
        p = self._policy
        tiers: list[tuple] = []
        who = caller.spender
        if who:
            own = (key_tiers or {}).get(bucket)
            for item in _items(own if own is not None else p.caller.get(bucket, [])):
                tiers.append((item, ("caller", caller.tenant, who, bucket)))
        tenant_tiers = p.per_tenant.get(caller.tenant, {}).get(bucket, p.tenant.get(bucket, []))
        tiers += [(item, ("tenant", caller.tenant, bucket)) for item in _items(tenant_tiers)]
        tiers += [(item, ("suite", bucket)) for item in _items(p.suite.get(bucket, []))]
        return tiers

    async def admit(
        self, caller: Principal, bucket: str, key_tiers: dict[str, list[str]] | None = None, cost: int = 1
    ) -> Admitted:
        """Count the request against every tier, or refuse it (RateLimited) when any tier is spent or the tenant's
        requests in flight are at their cap, counting it nowhere. In this replica's memory when Redis does not
        answer. `cost`: how many requests this one stands for (a batch's items)."""
        tiers = self._tiers(caller, bucket, key_tiers)
        try:
            return await self._admit_shared(caller.tenant, bucket, tiers, cost)
        except REDIS_FAILURES as exc:
            LOCAL.inc()
            log.warning("Redis did not answer (%s); rate limits counted in this replica", type(exc).__name__)
            return await self._admit_locally(caller.tenant, bucket, tiers, cost)

    async def _admit_shared(self, tenant: str, bucket: str, tiers: list[tuple], cost: int) -> Admitted:
        now, member, cap = time.time(), secrets.token_hex(8), self._policy.tenant_in_flight
        slots, seconds = f"ragmesh:inflight:{tenant}", self._policy.in_flight_seconds
        windows = [f"{RedisStorage.PREFIX}:{item.key_for(*identifiers)}" for item, identifiers in tiers]
        limits = chain.from_iterable((item.amount, item.get_expiry()) for item, _ in tiers)
        given_back, self._given_back = self._given_back, []
        try:
            verdict = await self._admit_script(
                keys=[*windows, slots, *(key for key, _, _ in given_back)],
                args=[now, cost, len(tiers), *limits, cap, now + seconds, member, int(seconds) + 60]
                + [member for _, member, _ in given_back],
            )
        except BaseException:
            # Removing a member twice is harmless: they go with the next round trip.
            self._given_back[:0] = given_back
            raise
        if verdict[0] < 0:
            raise self._crowded(tenant)
        if verdict[0] > 0:
            item, identifiers = tiers[verdict[0] - 1]
            raise self._refused(item, identifiers[0], bucket, cost, float(verdict[1]) + item.get_expiry() - now)
        slot = (slots, member) if cap else None
        if not tiers:
            return Admitted(slot=slot)
        item = tiers[0][0]
        reset = float(verdict[2]) + item.get_expiry() - now
        return Admitted(item.amount, item.amount - int(verdict[1]), max(0, int(reset)), slot)

    async def _admit_locally(self, tenant: str, bucket: str, tiers: list[tuple], cost: int) -> Admitted:
        """The same tiers in this replica's memory, through the library (a request one tier refuses still counts
        in the others, which errs towards refusing)."""
        limiter = self._local
        hits = await asyncio.gather(*(limiter.hit(item, *identifiers, cost=cost) for item, identifiers in tiers))
        for (item, identifiers), hit in zip(tiers, hits, strict=True):
            if not hit:
                stats = await limiter.get_window_stats(item, *identifiers)
                raise self._refused(item, identifiers[0], bucket, cost, stats.reset_time - time.time())
        slot = None
        if cap := self._policy.tenant_in_flight:
            if self._local_in_flight[tenant] >= cap:
                raise self._crowded(tenant)
            self._local_in_flight[tenant] += 1
            slot = ("", tenant)
        if not tiers:
            return Admitted(slot=slot)
        item, identifiers = tiers[0]
        stats = await limiter.get_window_stats(item, *identifiers)
        return Admitted(item.amount, stats.remaining, max(0, int(stats.reset_time - time.time())), slot)

    @staticmethod
    def _refused(item: RateLimitItem, scope: str, bucket: str, cost: int, seconds: float) -> RateLimited:
        RATE_LIMITED.labels(scope).inc()
        asked = f" ({cost} asked at once)" if cost > 1 else ""
        return RateLimited(
            f"rate limit reached: {item.amount} {bucket} requests per {item.get_expiry()} s for this "
            f"{'credential' if scope == 'caller' else scope}{asked}",
            limit=item.amount,
            retry_after=int(seconds) + 1,
        )

    def _crowded(self, tenant: str) -> RateLimited:
        RATE_LIMITED.labels("in_flight").inc()
        cap = self._policy.tenant_in_flight
        return RateLimited(f"tenant {tenant!r} has {cap} requests in flight already", limit=cap, retry_after=1)

    async def standing(self, caller: Principal) -> list[tuple[str, str, RateLimitItem, int, int]]:
        """Every tier that applies to the caller: (bucket, scope, limit, remaining, seconds to reset); counts
        nothing."""
        rows = []
        limiter = self._shared
        for bucket in BUCKETS:
            for item, identifiers in self._tiers(caller, bucket, caller.rate_limits):
                try:
                    stats = await limiter.get_window_stats(item, *identifiers)
                except REDIS_FAILURES as exc:
                    # What this replica counts while Redis is away, as admission does.
                    log.warning("Redis did not answer (%s); rate limits read from this replica", type(exc).__name__)
                    limiter = self._local
                    stats = await limiter.get_window_stats(item, *identifiers)
                rows.append(
                    (bucket, identifiers[0], item, stats.remaining, max(0, int(stats.reset_time - time.time())))
                )
        return rows

    async def release(self, admitted: Admitted) -> None:
        if admitted.slot is None:
            return
        key, member = admitted.slot
        if not key:
            self._local_in_flight[member] -= 1
            return
        # The replica's next admission takes it along; when none comes soon, it goes on its own.
        turn = next(self._turns)
        self._given_back.append((key, member, turn))
        await asyncio.sleep(RELEASE_LINGER_SECONDS)
        await self._flush(turn)

    async def _flush(self, turn: int) -> None:
        """Remove in Redis the slots given back up to `turn` that no admission has taken along; later ones wait for
        the next admission or their own turn (flushing every pending slot found the one given back a moment before
        nearly every time, at a request every few milliseconds: a round trip a request)."""
        due = 0
        while due < len(self._given_back) and self._given_back[due][2] <= turn:
            due += 1
        if not due:
            return
        given_back, self._given_back = self._given_back[:due], self._given_back[due:]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, member, _ in given_back:
                    pipe.zrem(key, member)
                await pipe.execute()
        except REDIS_FAILURES:
            # The slots expire by themselves after in_flight_timeout_seconds.
            log.warning("Redis did not answer; %d in-flight slots left to expire", len(given_back))
