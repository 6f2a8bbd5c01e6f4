"""The retrieval cache: the ranked hits (and the query's vector) of a search, by everything the search ran with:
tenant, reader, corpus version, text, mode, filters, weights and sizes. A hit skips embedding and searching.

An entry is one string (the vector's length, the vector, the hits), written with one SET and read with one GET: it
was a hash of two fields written in a MULTI of two commands, which cost every search a few hundred microseconds of
the gateway's CPU for nothing the hash allowed."""

import struct

import numpy as np
import redis.asyncio as redis

from ragmesh.retriever.v1 import retriever_pb2
from services.gateway.query.caches.keys import cache_key, counted, quietly

# In every key, so that entries of an earlier layout are never read (they expire by themselves).
_LAYOUT = "packed-1"
_LENGTH = struct.Struct("<I")


def _packed(hits: list[retriever_pb2.Hit], vector: list[float]) -> bytes:
    dense = np.asarray(vector, dtype=np.float32)
    found = retriever_pb2.SearchResponse(hits=hits).SerializeToString()
    return _LENGTH.pack(dense.size) + dense.tobytes() + found


def _unpacked(entry: bytes) -> tuple[list[retriever_pb2.Hit], list[float]]:
    (size,) = _LENGTH.unpack_from(entry)
    vector = np.frombuffer(entry, dtype=np.float32, count=size, offset=_LENGTH.size)
    found = retriever_pb2.SearchResponse.FromString(entry[_LENGTH.size + 4 * size :])
    return list(found.hits), vector.tolist()


class RetrievalCache:
    """Search results, kept `ttl_seconds` (they never outlive the corpus version they were found in)."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds

    @staticmethod
    def key(version: str, search: retriever_pb2.SearchRequest) -> str:
        """`search` as it will be sent, before its vector is added (the vector follows from its text)."""
        identity = search.SerializeToString(deterministic=True).hex()
        return cache_key("retrieval", search.tenant, version, identity, _LAYOUT)

    async def get(self, key: str) -> tuple[list[retriever_pb2.Hit], list[float]] | None:
        """The hits and the query vector, or None."""
        entry = await quietly("retrieval", self._redis.get(key), None) if self._ttl else None
        counted("retrieval", entry is not None)
        return _unpacked(entry) if entry is not None else None

    async def put(self, key: str, hits: list[retriever_pb2.Hit], vector: list[float]) -> None:
        if self._ttl:
            await quietly("retrieval", self._redis.set(key, _packed(hits, vector), ex=self._ttl), None)
