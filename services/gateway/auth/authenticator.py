"""The authenticator: whichever credential a request presents (a bootstrap key from configuration, a stored API
key, a JWT) becomes a Principal, or Unauthenticated says why not. Stored keys are looked up at most every
`key_cache_seconds` (1 s by default) per replica, so a revoked key is refused everywhere within that; requests that
present the same key while it is being looked up wait for that one lookup instead of each querying the database."""

import asyncio
import functools
import hmac
import time
from datetime import UTC, datetime

from services.gateway.auth.jwt import JwtVerifier, looks_like_jwt
from services.gateway.auth.keys import KeyStore, key_hash
from services.gateway.identity import Principal
from services.runtime.errors import Unauthenticated

_MAX_CACHED = 10_000


class Authenticator:
    """Credentials → Principal."""

    def __init__(
        self,
        bootstrap_keys: dict[str, str],
        keys: KeyStore,
        jwt: JwtVerifier | None,
        key_cache_seconds: float = 1.0,
    ) -> None:
        self._bootstrap = {key.encode(): tenant for key, tenant in bootstrap_keys.items()}
        self._keys = keys
        self._jwt = jwt
        self._ttl = key_cache_seconds
        # key hash -> (looked up at, the principal or the reason it was refused)
        self._cache: dict[str, tuple[float, Principal | str]] = {}
        # key hash -> the lookup in flight: a burst on one key is one query, not one per request.
        self._looking_up: dict[str, asyncio.Task[Principal | str]] = {}

    async def authenticate(self, presented: str) -> Principal:
        if not presented.strip():
            raise Unauthenticated("empty credential")
        if self._jwt is not None and looks_like_jwt(presented):
            return await self._jwt.verify(presented)
        tenant = None
        # Compare against every bootstrap key in constant time, so timing does not reveal a near miss.
        for key, owner in self._bootstrap.items():
            if hmac.compare_digest(key, presented.encode()):
                tenant = owner
        if tenant is not None:
            return Principal(tenant=tenant, via="bootstrap-key")
        found = await self._stored(presented)
        if isinstance(found, str):
            raise Unauthenticated(found)
        return found

    def forget(self) -> None:
        """Drop every cached lookup (this replica revoked a key: refuse it here at once)."""
        self._cache.clear()
        self._looking_up.clear()

    async def _stored(self, presented: str) -> Principal | str:
        digest = key_hash(presented)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        lookup = self._looking_up.get(digest)
        if lookup is None:
            lookup = asyncio.create_task(self._look_up(presented, digest))
            self._looking_up[digest] = lookup
            lookup.add_done_callback(functools.partial(self._looked_up, digest))
        # Shielded: one waiter giving up (its client went away) never cancels the lookup the others wait on.
        return await asyncio.shield(lookup)

    def _looked_up(self, digest: str, lookup: asyncio.Task) -> None:
        # Only this lookup's entry: forget() may have let a newer lookup of the same key start since.
        if self._looking_up.get(digest) is lookup:
            del self._looking_up[digest]

    async def _look_up(self, presented: str, digest: str) -> Principal | str:
        record = await self._keys.find(presented)
        result: Principal | str
        if record is None:
            result = "invalid API key"
        elif record.revoked_at is not None:
            result = f"API key {record.prefix} was revoked"
        elif record.expires_at is not None and record.expires_at <= datetime.now(UTC):
            result = f"API key {record.prefix} expired at {record.expires_at.isoformat()}"
        else:
            result = Principal(
                tenant=record.tenant,
                user=record.user,
                groups=tuple(record.groups),
                scopes=frozenset(record.scopes),
                via="api-key",
                key_id=record.id,
                rate_limits=record.rate_limits,
                tier=record.tier,
            )
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[digest] = (time.monotonic(), result)
        return result
