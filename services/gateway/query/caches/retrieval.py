"""The retrieval cache: the ranked hits (and the query's vector) of a search, by everything the search ran with:
tenant, reader, corpus version, text, mode, filters, weights and sizes. A hit skips embedding and searching."""

import numpy as np
import redis.asyncio as redis

from ragmesh.retriever.v1 import retriever_pb2
from services.gateway.query.caches.keys import cache_key, counted, quietly


class RetrievalCache:
    """Search results, kept `ttl_seconds` (they never outlive the corpus version they were found in)."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds

    @staticmethod
    def key(version: str, search: retriever_pb2.SearchRequest) -> str:
        """`search` as it will be sent, before its vector is added (the vector follows from its text)."""
        identity = search.SerializeToString(deterministic=True).hex()
        return cache_key("retrieval", search.tenant, version, identity)

    async def get(self, key: str) -> tuple[list[retriever_pb2.Hit], list[float]] | None:
        """The hits and the query vector, or None."""
        entry = await quietly("retrieval", self._redis.hgetall(key), {}) if self._ttl else {}
        counted("retrieval", bool(entry))
        if not entry:
            return None
        found = retriever_pb2.SearchResponse.FromString(entry[b"hits"])
        return list(found.hits), np.frombuffer(entry[b"vector"], dtype=np.float32).tolist()

    async def put(self, key: str, hits: list[retriever_pb2.Hit], vector: list[float]) -> None:
        if not self._ttl:
            return
        entry = {
            "hits": retriever_pb2.SearchResponse(hits=hits).SerializeToString(),
            "vector": np.asarray(vector, dtype=np.float32).tobytes(),
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=entry)
            pipe.expire(key, self._ttl)
            await quietly("retrieval", pipe.execute(), None)
