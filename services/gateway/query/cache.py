"""What the query path keeps in Redis: each tenant's corpus version (bumped on every change, part of every cache
key) and the answer cache. The only module of the query path that talks to Redis; when Redis is down, answers
are computed afresh, never refused."""

import hashlib
import json
import logging

import redis.asyncio as redis
from pydantic import BaseModel

from services.gateway.models import QueryRequest, QueryResponse
from services.runtime.access import Viewer
from services.runtime.errors import Unavailable

log = logging.getLogger(__name__)


def corpus_key(tenant: str) -> str:
    """Redis key of the tenant's corpus version."""
    return f"ragmesh:corpus:{tenant}"


class CorpusVersions:
    """Each tenant's corpus version: any ingest, delete or schema change bumps it, invalidating cached answers."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    async def current(self, tenant: str) -> str:
        """The version, or "" when Redis is unreachable (then nothing is cached)."""
        try:
            return (await self._redis.get(corpus_key(tenant)) or b"0").decode()
        except redis.RedisError:
            return ""

    async def bump(self, tenant: str) -> None:
        try:
            await self._redis.incr(corpus_key(tenant))
        except redis.RedisError as exc:
            raise Unavailable(f"the change was stored but the cache could not be invalidated: {exc}") from exc


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
