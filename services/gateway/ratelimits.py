"""Rate limits that every gateway replica agrees on: the `limits` library's moving windows in Redis.

Tiers per caller (a stored key, or a JWT's user; bootstrap keys from configuration are the operators' and are
exempt), per tenant and global, each per bucket: `answer` (generated answers: /v1/query, /v1/verify), `search`
(retrieval only, cheaper) and `ingest`. A stored key may carry its own tiers. On top, a cap on each tenant's requests
in flight (a Redis sorted set of expiring slots, so a replica that dies holds none for long). A refusal names the
limit and when to retry; the route answers 429 with Retry-After and RateLimit-* headers.

When Redis cannot answer (down, paused, past its short deadline), each replica counts in its own memory instead
(the same tiers, per replica) until Redis answers again: requests are still limited, never refused for it.
"""

import asyncio
import logging
import secrets
import time
from collections import Counter as Tally
from dataclasses import dataclass, field

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
    return [item for tier in tiers for item in parse_many(tier)]


async def _ready(value: object) -> object:
    """`value`, awaitable beside work that is."""
    return value


class RateLimiter:
    """Admits or refuses requests against every tier that applies to them."""

    def __init__(self, client: redis.Redis, url: str, options: dict[str, object], policy: LimitPolicy) -> None:
        storage = RedisStorage(
            url.replace("redis://", "async+redis://", 1), implementation="redispy", wrap_exceptions=True, **options
        )
        self._shared = MovingWindowRateLimiter(storage)
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._local_in_flight: Tally[str] = Tally()
        self._redis = client
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
        """Count the request against every tier at once (each hit is atomic in Redis; a request one tier refuses
        still counts in the others, which errs towards refusing); refuse when any tier is spent. In this replica's
        memory when Redis does not answer. `cost`: how many requests this one stands for (a batch's items)."""
        try:
            return await self._admit(self._shared, caller, bucket, key_tiers, shared=True, cost=cost)
        except REDIS_FAILURES as exc:
            LOCAL.inc()
            log.warning("Redis did not answer (%s); rate limits counted in this replica", type(exc).__name__)
            return await self._admit(self._local, caller, bucket, key_tiers, shared=False, cost=cost)

    async def _admit(
        self,
        limiter: MovingWindowRateLimiter,
        caller: Principal,
        bucket: str,
        key_tiers: dict[str, list[str]] | None,
        shared: bool,
        cost: int = 1,
    ) -> Admitted:
        tiers = self._tiers(caller, bucket, key_tiers)
        hits = await asyncio.gather(*(limiter.hit(item, *identifiers, cost=cost) for item, identifiers in tiers))
        for (item, identifiers), hit in zip(tiers, hits, strict=True):
            if not hit:
                stats = await limiter.get_window_stats(item, *identifiers)
                scope = identifiers[0]
                RATE_LIMITED.labels(scope).inc()
                asked = f" ({cost} asked at once)" if cost > 1 else ""
                raise RateLimited(
                    f"rate limit reached: {item.amount} {bucket} requests per {item.get_expiry()} s for this "
                    f"{'credential' if scope == 'caller' else scope}{asked}",
                    limit=item.amount,
                    retry_after=int(stats.reset_time - time.time()) + 1,
                )
        slot = self._take_slot(caller.tenant) if shared else _ready(self._take_local_slot(caller.tenant))
        if not tiers:
            return Admitted(slot=await slot)
        # The headers speak of the first (the caller's shortest) tier; its window is read while the tenant's slot is
        # taken: one round trip for both.
        item, identifiers = tiers[0]
        stats, taken = await asyncio.gather(limiter.get_window_stats(item, *identifiers), slot)
        return Admitted(item.amount, stats.remaining, max(0, int(stats.reset_time - time.time())), taken)

    async def standing(self, caller: Principal) -> list[tuple[str, str, RateLimitItem, int, int]]:
        """Every tier that applies to the caller: (bucket, scope, limit, remaining, seconds to reset); counts
        nothing."""
        rows = []
        for bucket in BUCKETS:
            for item, identifiers in self._tiers(caller, bucket, caller.rate_limits):
                stats = await self._shared.get_window_stats(item, *identifiers)
                rows.append(
                    (bucket, identifiers[0], item, stats.remaining, max(0, int(stats.reset_time - time.time())))
                )
        return rows

    async def _take_slot(self, tenant: str) -> tuple[str, str] | None:
        """A place among the tenant's requests in flight, or RateLimited when all are taken."""
        cap = self._policy.tenant_in_flight
        if not cap:
            return None
        key, member, now = f"ragmesh:inflight:{tenant}", secrets.token_hex(8), time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {member: now + self._policy.in_flight_seconds})
            pipe.zcard(key)
            pipe.expire(key, int(self._policy.in_flight_seconds) + 60)
            _, _, count, _ = await pipe.execute()
        if count > cap:
            await self._redis.zrem(key, member)
            RATE_LIMITED.labels("in_flight").inc()
            raise RateLimited(f"tenant {tenant!r} has {cap} requests in flight already", limit=cap, retry_after=1)
        return key, member

    def _take_local_slot(self, tenant: str) -> tuple[str, str] | None:
        cap = self._policy.tenant_in_flight
        if not cap:
            return None
        if self._local_in_flight[tenant] >= cap:
            RATE_LIMITED.labels("in_flight").inc()
            raise RateLimited(f"tenant {tenant!r} has {cap} requests in flight already", limit=cap, retry_after=1)
        self._local_in_flight[tenant] += 1
        return "", tenant

    async def release(self, admitted: Admitted) -> None:
        if admitted.slot is None:
            return
        key, member = admitted.slot
        if not key:
            self._local_in_flight[member] -= 1
            return
        try:
            await self._redis.zrem(key, member)
        except REDIS_FAILURES:
            # The slot expires by itself after in_flight_timeout_seconds.
            log.warning("Redis did not answer; in-flight slot left to expire")
