"""The embedding cache: an Embedder in front of another, keeping each vector in Redis by model, kind (query or
document) and whitespace-normalized text for `ttl_seconds` (7 days). Every replica and every caller share it:
a question asked again, a chunk re-ingested unchanged, a passage scored for compression, each is encoded once.
A Redis that does not answer is a miss: the model encodes, never an error."""

import hashlib
import logging

import numpy as np
import redis.asyncio as redis

from services.embedder.model import Embedder
from services.runtime.background import Background
from services.runtime.metrics import CACHE_HITS, CACHE_MISSES

log = logging.getLogger(__name__)


class CachedEmbedder:
    """Vectors from the cache where it has them, from `inner` for the rest (then cached)."""

    def __init__(self, inner: Embedder, client: redis.Redis, ttl_seconds: int) -> None:
        self._inner = inner
        self._redis = client
        self._ttl = ttl_seconds
        self._storing = Background()

    @property
    def model_name(self) -> str:
        return self._inner.model_name

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def max_sequence_length(self) -> int:
        return self._inner.max_sequence_length

    async def warm_up(self) -> None:
        await self._inner.warm_up()

    async def close(self) -> None:
        await self._storing.drain()
        await self._inner.close()
        await self._redis.aclose()

    def _key(self, text: str, is_query: bool) -> str:
        digest = hashlib.sha256(" ".join(text.split()).encode()).hexdigest()
        return f"ragmesh:embedding:{self.model_name}:{'q' if is_query else 'd'}:{digest}"

    async def embed(self, texts: list[str], *, is_query: bool, deadline: float | None = None) -> np.ndarray:
        keys = [self._key(text, is_query) for text in texts]
        try:
            found = await self._redis.mget(keys)
        except (redis.RedisError, OSError) as exc:
            log.warning("embedding cache unavailable (%s); encoding everything", type(exc).__name__)
            found = [None] * len(texts)
        missing = [i for i, value in enumerate(found) if value is None]
        CACHE_HITS.labels("embedding").inc(len(texts) - len(missing))
        CACHE_MISSES.labels("embedding").inc(len(missing))
        fresh = (
            await self._inner.embed([texts[i] for i in missing], is_query=is_query, deadline=deadline)
            if missing
            else None
        )
        rows = [None if value is None else np.frombuffer(value, dtype=np.float32) for value in found]
        for position, i in enumerate(missing):
            rows[i] = np.asarray(fresh[position], dtype=np.float32)
        if missing:
            # Stored after the caller has its vectors: it does not wait for the cache.
            self._storing.spawn(self._store({keys[i]: rows[i].tobytes() for i in missing}))
        return np.vstack(rows)

    async def _store(self, entries: dict[str, bytes]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, value in entries.items():
                    pipe.set(key, value, ex=self._ttl)
                await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("embedding cache unavailable (%s); not stored", type(exc).__name__)
