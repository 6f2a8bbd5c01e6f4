"""The semantic cache: an earlier question of the same tenant, reader, corpus version, prompt version and request
options whose embedding lies within `threshold` (cosine) of this one serves its answer. It is an index over the
exact cache's entries: each entry here names an exact-cache key, whose access check still applies.

The most recent `entries` questions of each scope are compared, all at once (one Redis read, one matrix product):
a bounded, exact search instead of an approximate index, because a scope (one tenant's readers with the same
access, one corpus version) rarely holds many distinct questions before the corpus changes and the scope starts
afresh. Because the corpus version is in the scope, a change to the corpus invalidates it whole."""

import json

import numpy as np
import redis.asyncio as redis

from services.gateway.models import QueryRequest
from services.gateway.query.caches.answers import options
from services.gateway.query.caches.keys import cache_key, counted, quietly
from services.runtime.access import Viewer


class SemanticCache:
    """Near-identical earlier questions and the exact-cache key of their answer."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, threshold: float, entries: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self.threshold = threshold
        self._entries = entries

    @property
    def enabled(self) -> bool:
        return self.threshold < 1.0 and self._entries > 0

    @staticmethod
    def key(tenant: str, viewer: Viewer, version: str, request: QueryRequest, prompt_version: str) -> str:
        return cache_key("semantic", tenant, viewer.entries(), version, options(request), prompt_version)

    async def find(self, key: str, vector: list[float]) -> tuple[str, str, float] | None:
        """(exact-cache key, the earlier question, its similarity) of the closest earlier question within the
        threshold, or None."""
        rows = await quietly("semantic", self._redis.lrange(key, 0, self._entries - 1), [])
        best = None
        if rows:
            heads, vectors = zip(*(row.split(b"\n", 1) for row in rows), strict=True)
            matrix = np.frombuffer(b"".join(vectors), dtype=np.float16).reshape(len(rows), -1).astype(np.float32)
            scores = matrix @ np.asarray(vector, dtype=np.float32)
            index = int(np.argmax(scores))
            if scores[index] >= self.threshold:
                question, answer_key = json.loads(heads[index])
                best = (answer_key, question, round(float(scores[index]), 4))
        counted("semantic", best is not None)
        return best

    async def add(self, key: str, question: str, answer_key: str, vector: list[float]) -> None:
        row = json.dumps([question, answer_key]).encode() + b"\n" + np.asarray(vector, dtype=np.float16).tobytes()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, row)
            pipe.ltrim(key, 0, self._entries - 1)
            pipe.expire(key, self._ttl)
            await quietly("semantic", pipe.execute(), None)
