"""The exact answer cache: whole answers by tenant, reader, corpus version, normalized question, request options
and prompt version."""

import redis.asyncio as redis
from pydantic import BaseModel

from services.gateway.models import QueryRequest, QueryResponse
from services.gateway.query.caches.keys import cache_key, counted, quietly
from services.runtime.access import Viewer


class CachedAnswer(BaseModel):
    """An answer as cached, with (allowed_users, allowed_groups) of every document it shows."""

    response: QueryResponse
    access: dict[str, tuple[list[str], list[str]]]


def normalized(question: str) -> str:
    return " ".join(question.lower().split())


def options(request: QueryRequest) -> dict[str, object]:
    """Everything of a request that shapes its answer, but the question."""
    return request.model_dump(mode="json", exclude={"stream", "question"})


class AnswerCache:
    """Whole answers. The reader's access entries are part of the key: an answer found for one reader (even
    "nothing found") may be wrong for another who sees more or less; and an entry is served only to a reader who
    may see every document it shows."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds

    @staticmethod
    def key(
        tenant: str, viewer: Viewer, version: str, question: str, request: QueryRequest, prompt_version: str
    ) -> str:
        return cache_key(
            "answer", tenant, viewer.entries(), version, normalized(question), options(request), prompt_version
        )

    async def get(self, key: str, viewer: Viewer) -> QueryResponse | None:
        """The cached answer, when there is one and the viewer may see every document it shows."""
        cached = await quietly("answer", self._redis.get(key), None)
        entry = CachedAnswer.model_validate_json(cached) if cached else None
        if entry is not None and not all(viewer.can_see(users, groups) for users, groups in entry.access.values()):
            entry = None
        counted("answer", entry is not None)
        return entry.response if entry else None

    async def put(self, key: str, response: QueryResponse, access: dict[str, tuple[list[str], list[str]]]) -> None:
        """Store the answer with who may see each document it shows."""
        entry = CachedAnswer(response=response, access=access)
        await quietly("answer", self._redis.set(key, entry.model_dump_json(), ex=self._ttl), None)
