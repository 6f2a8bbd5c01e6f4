"""Announcing corpus changes: after each committed change to a tenant's documents, permissions or schema, the tenant's
name goes out on the suite's Redis (channel stores.CORPUS_CHANGES), so that gateway replicas can keep corpus versions
in memory and drop one the moment it moves, instead of asking the catalogue for every question.

Publishing is best effort: the change is already committed and stands. A message that cannot go out is counted and
logged; listeners bound how long they trust a version they did not hear about (the gateway's
corpus_version_seconds), and the gateway that forwarded a change forgets the tenant's version itself."""

import logging

from prometheus_client import Counter
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.runtime import stores

log = logging.getLogger(__name__)
UNSENT = Counter("ragmesh_ingest_corpus_announcements_failed_total", "Corpus changes that could not be announced.")


class ChangeAnnouncer:
    """Publishes tenants whose corpus changed; does nothing without a Redis URL."""

    def __init__(self, url: str, password: SecretStr | None, timeout_seconds: float) -> None:
        self._redis: Redis | None = stores.redis_client(url, password, timeout_seconds) if url else None

    @property
    def enabled(self) -> bool:
        return self._redis is not None

    async def announce(self, tenants: set[str]) -> None:
        if self._redis is None or not tenants:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for tenant in sorted(tenants):
                    pipe.publish(stores.CORPUS_CHANGES, tenant)
                await pipe.execute()
        except RedisError as exc:
            UNSENT.inc(len(tenants))
            log.warning("could not announce a corpus change of %s (%s)", sorted(tenants), exc)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
