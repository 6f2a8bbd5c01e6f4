"""Redis clients, the same for every service that uses one: short deadlines and no retries (a retry of a timed-out
call only doubles the wait), the password when the URL carries none, and a circuit breaker on the connection.

The breaker (one per Redis address) is what keeps a paused or lost Redis cheap: after REDIS_FAIL_MAX consecutive
failures (a refused connection, a reply that does not come within the deadline) every call to it fails at once for
REDIS_RESET_SECONDS, so requests pay the deadline a few times in all, not on each of their Redis calls; then one
call tries again. Callers handle the failure as they handle any Redis failure (skip the cache, count limits in
memory, refuse what must be exact). It sits on the connection because every command and pipeline of redis-py,
and of the limits library's Redis storage, goes through one.
"""

import pybreaker
from prometheus_client import Gauge
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

REDIS_FAIL_MAX = 3
REDIS_RESET_SECONDS = 5.0
OPEN = Gauge(
    "ragmesh_redis_breaker_open", "1 while calls to this Redis fail at once (it did not answer lately).", ["redis"]
)


def _not_a_failure(exc: BaseException) -> bool:
    return not isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError)


class _Exported(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state, new_state) -> None:
        OPEN.labels(cb.name).set(1 if new_state.name == pybreaker.STATE_OPEN else 0)


# One per Redis address, shared by every client of the process that talks to it.
_BREAKERS: dict[str, pybreaker.CircuitBreaker] = {}


def redis_breaker(address: str) -> pybreaker.CircuitBreaker:
    if address not in _BREAKERS:
        _BREAKERS[address] = pybreaker.CircuitBreaker(
            fail_max=REDIS_FAIL_MAX,
            reset_timeout=REDIS_RESET_SECONDS,
            exclude=[_not_a_failure],
            listeners=[_Exported()],
            name=address,
            throw_new_error_on_trip=False,
        )
    return _BREAKERS[address]


class _Guarded:
    """Connects and replies through the process's Redis breaker (mixed into redis-py's connection classes)."""

    def _breaker(self) -> pybreaker.CircuitBreaker:
        return redis_breaker(f"{self.host}:{self.port}")  # type: ignore[attr-defined]

    async def connect(self) -> None:
        # redis-py asks every connection it hands out to connect; one that is connected has nothing to guard.
        if self.is_connected:  # type: ignore[attr-defined]
            return
        try:
            with self._breaker().calling():
                await super().connect()
        except pybreaker.CircuitBreakerError as exc:
            raise RedisConnectionError("Redis is unavailable (circuit open)") from exc

    async def read_response(self, *args, **kwargs):
        try:
            with self._breaker().calling():
                return await super().read_response(*args, **kwargs)
        except pybreaker.CircuitBreakerError as exc:
            raise RedisConnectionError("Redis is unavailable (circuit open)") from exc


class GuardedConnection(_Guarded, Connection):
    """redis://"""


class GuardedSSLConnection(_Guarded, SSLConnection):
    """rediss://"""


def redis_options(url: str, password: SecretStr | None, timeout_seconds: float) -> dict[str, object]:
    """Keyword arguments for redis-py's from_url (and the limits library's Redis storage) for `url`."""
    options: dict[str, object] = {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "retry": Retry(NoBackoff(), 0),
        "connection_class": GuardedSSLConnection if url.startswith("rediss://") else GuardedConnection,
    }
    if password:
        options["password"] = password.get_secret_value()
    return options


def redis_client(url: str, password: SecretStr | None, timeout_seconds: float) -> Redis:
    """An asyncio Redis client for `url` with those options (short timeouts, no retries, a breaker per address)."""
    return Redis.from_url(url, **redis_options(url, password, timeout_seconds))


# Where ingest announces each committed change to a tenant's corpus (the message: the tenant) and gateways listen.
CORPUS_CHANGES = "ragmesh:corpus-changed"
