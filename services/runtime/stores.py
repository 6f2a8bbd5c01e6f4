"""Connection options for Redis, the same for every service that uses it: short deadlines and no retries (a retry
of a timed-out call only doubles the wait), and the password when the URL carries none."""

from pydantic import SecretStr


def redis_options(password: SecretStr | None, timeout_seconds: float) -> dict[str, object]:
    """Keyword arguments for redis-py (and the limits library's Redis storage)."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    options: dict[str, object] = {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "retry": Retry(NoBackoff(), 0),
    }
    if password:
        options["password"] = password.get_secret_value()
    return options
