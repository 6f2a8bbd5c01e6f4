"""What every cache layer shares: keys under the tenant's prefix (so one tenant's entries can be dropped), hit and
miss counters, and safe Redis calls (a Redis that does not answer is a miss, never an error)."""

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable
from typing import TypeVar

import redis.asyncio as redis

from services.runtime.metrics import CACHE_HITS, CACHE_MISSES, CACHE_SIZE

log = logging.getLogger(__name__)
LAYERS = ("answer", "semantic", "retrieval")
T = TypeVar("T")


def cache_key(layer: str, tenant: str, *identity: object) -> str:
    """`ragmesh:<layer>:<tenant>:<sha256 of everything that identifies the entry>`."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return f"ragmesh:{layer}:{tenant}:{digest}"


def counted(layer: str, hit: bool) -> None:
    (CACHE_HITS if hit else CACHE_MISSES).labels(layer).inc()


async def quietly(layer: str, call: Awaitable[T], default: T) -> T:
    """A Redis call whose failure (down, paused past its deadline) is logged and read as `default`."""
    try:
        return await call
    except (redis.RedisError, OSError) as exc:
        log.warning("%s cache unavailable (%s); going on without it", layer, type(exc).__name__)
        return default


class Caches:
    """Operators' view of every layer: how many entries, and dropping them per tenant or all."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def _pattern(self, layer: str, tenant: str | None) -> str:
        return f"ragmesh:{layer}:{tenant or '*'}:*" if layer in LAYERS else f"ragmesh:{layer}:*"

    async def sizes(self, tenant: str | None, layers: tuple[str, ...] = LAYERS) -> dict[str, int]:
        """Entries per layer (for one tenant, or all)."""
        sizes = {}
        for layer in layers:
            count = 0
            async for _ in self._redis.scan_iter(match=self._pattern(layer, tenant), count=1000):
                count += 1
            sizes[layer] = count
        return sizes

    def keep_counted(self, every_seconds: float) -> asyncio.Task | None:
        """Count every layer's entries (all tenants, and the embedding cache) into the cache_size gauge now and every
        `every_seconds`, in the background (None when 0: never); cancel the task to stop. SCAN walks the keys in
        small steps, so Redis keeps serving between them."""

        async def count() -> None:
            while True:
                try:
                    for layer, entries in (await self.sizes(None, (*LAYERS, "embedding"))).items():
                        CACHE_SIZE.labels(layer).set(entries)
                except (redis.RedisError, OSError) as exc:
                    log.warning("could not count the cache entries (%s)", type(exc).__name__)
                await asyncio.sleep(every_seconds)

        return asyncio.create_task(count()) if every_seconds > 0 else None

    async def drop(self, tenant: str | None, layers: tuple[str, ...] = LAYERS) -> dict[str, int]:
        """Delete the entries of `layers` (for one tenant, or all); how many went, per layer."""
        dropped = {}
        for layer in layers:
            batch: list[bytes] = []
            count = 0
            async for key in self._redis.scan_iter(match=self._pattern(layer, tenant), count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    count += await self._redis.unlink(*batch)
                    batch = []
            if batch:
                count += await self._redis.unlink(*batch)
            dropped[layer] = count
        return dropped
