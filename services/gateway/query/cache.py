"""The query path's caches, in Redis, each keyed on the tenant's corpus version (whose truth is the ingest
catalogue). The only module of the query path that talks to Redis; when Redis is down, answers are computed
afresh, never refused."""

import hashlib
import json
import logging

import grpc
import redis.asyncio as redis
from pydantic import BaseModel

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.gateway.models import QueryRequest, QueryResponse
from services.runtime.access import Viewer

log = logging.getLogger(__name__)


class CorpusVersions:
    """Each tenant's corpus version, asked of the ingest service for every question: its catalogue changes the
    version in the same transaction as any change to the tenant's documents, their permissions or its schema. So a
    cache keyed on it can never serve an entry from before a change, whatever happened to Redis meanwhile."""

    def __init__(self, ingest: ingest_pb2_grpc.IngestServiceStub, timeout_seconds: float) -> None:
        self._ingest = ingest
        self._timeout = timeout_seconds

    async def current(self, tenant: str) -> str:
        """The version, or "" when the catalogue cannot say (then nothing is cached or served from a cache)."""
        try:
            reply = await self._ingest.GetCorpusVersion(
                ingest_pb2.GetCorpusVersionRequest(tenant=tenant), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("corpus version unavailable (%s); answering without caches", exc.code().name)
            return ""
        return reply.version


class CachedAnswer(BaseModel):
    """An answer as cached, with (allowed_users, allowed_groups) of every document it shows."""

    response: QueryResponse
    access: dict[str, tuple[list[str], list[str]]]


class AnswerCache:
    """Whole answers by tenant, reader, corpus version, normalized question, request options and prompt version.

    The reader's access entries are part of the key: an answer found for one reader (even "nothing found") may be
    wrong for another who sees more or less; and an entry is served only to a reader who may see every document
    it shows."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds

    @staticmethod
    def key(
        tenant: str, viewer: Viewer, version: str, question: str, request: QueryRequest, prompt_version: str
    ) -> str:
        identity = json.dumps(
            [
                tenant,
                viewer.entries(),
                version,
                " ".join(question.lower().split()),
                request.model_dump(mode="json", exclude={"stream"}),
                prompt_version,
            ],
            sort_keys=True,
        )
        return "ragmesh:answer:" + hashlib.sha256(identity.encode()).hexdigest()

    async def get(self, key: str, viewer: Viewer) -> QueryResponse | None:
        """The cached answer, when there is one and the viewer may see every document it shows."""
        try:
            cached = await self._redis.get(key)
        except redis.RedisError:
            log.warning("answer cache unavailable; answering without it")
            return None
        if not cached:
            return None
        entry = CachedAnswer.model_validate_json(cached)
        if not all(viewer.can_see(users, groups) for users, groups in entry.access.values()):
            return None
        return entry.response

    async def put(self, key: str, response: QueryResponse, access: dict[str, tuple[list[str], list[str]]]) -> None:
        """Store the answer with who may see each document it shows."""
        entry = CachedAnswer(response=response, access=access)
        try:
            await self._redis.set(key, entry.model_dump_json(), ex=self._ttl)
        except redis.RedisError:
            log.warning("answer cache unavailable; not stored")
