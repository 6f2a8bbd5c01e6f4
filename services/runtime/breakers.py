"""A circuit breaker per downstream service (pybreaker), as a client interceptor on its channel.

After `breaker_fail_max` consecutive failures (the service unreachable, past its deadline, or failing inside) the
breaker opens: every call fails at once with UNAVAILABLE, so callers degrade at once instead of waiting on a dead
peer and adding load to a sick one. After `breaker_reset_seconds` it lets calls through again (half-open) and
closes after `breaker_success_threshold` successes; one failure opens it again. A caller's own mistakes
(INVALID_ARGUMENT, NOT_FOUND, ...) and a caller giving up are not the downstream's failures and do not count.
State per downstream: the `ragmesh_breaker_state` gauge (0 closed, 1 half-open, 2 open).
"""

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc
import pybreaker
from prometheus_client import Gauge

from services.runtime.errors import INVALID_OUTPUT, REASON_KEY
from services.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)
STATE = Gauge("ragmesh_breaker_state", "Circuit breaker per downstream: 0 closed, 1 half-open, 2 open.", ["target"])
_LEVELS = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}
# Status codes that say the downstream (not the request) failed.
FAILURES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)


def _not_a_failure(exc: BaseException) -> bool:
    if isinstance(exc, grpc.aio.AioRpcError):
        reason = dict(exc.trailing_metadata() or ()).get(REASON_KEY)
        return exc.code() not in FAILURES or reason == INVALID_OUTPUT
    return isinstance(exc, asyncio.CancelledError | GeneratorExit)


class _Exported(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state, new_state) -> None:
        STATE.labels(cb.name).set(_LEVELS[new_state.name])
        if old_state is not None and old_state.name == new_state.name:
            return
        log.warning("circuit breaker for %s: %s -> %s", cb.name, old_state.name if old_state else "-", new_state.name)


def open_error(name: str) -> grpc.aio.AioRpcError:
    """What a call gets while its breaker is open: UNAVAILABLE, at once."""
    return grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(),
        details=f"{name} is unavailable (circuit open)",
    )


def breaker(name: str, settings: ServiceSettings) -> pybreaker.CircuitBreaker:
    """The breaker of one downstream, configured by the caller's settings."""
    STATE.labels(name).set(0)
    return pybreaker.CircuitBreaker(
        fail_max=settings.breaker_fail_max,
        reset_timeout=settings.breaker_reset_seconds,
        success_threshold=settings.breaker_success_threshold,
        exclude=[_not_a_failure],
        listeners=[_Exported()],
        name=name,
        # The call that trips the breaker keeps its own error (a deadline stays a deadline).
        throw_new_error_on_trip=False,
    )


class BreakerInterceptor(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    """Guards every call on one channel with that downstream's breaker."""

    def __init__(self, guard: pybreaker.CircuitBreaker) -> None:
        self.breaker = guard

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        try:
            with self.breaker.calling():
                call = await continuation(client_call_details, request)
                return await call
        except pybreaker.CircuitBreakerError as exc:
            raise open_error(self.breaker.name) from exc

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return self._stream(continuation, client_call_details, request)

    async def _stream(self, continuation, client_call_details, request) -> AsyncIterator:
        try:
            with self.breaker.calling():
                call = await continuation(client_call_details, request)
                async for response in call:
                    yield response
        except pybreaker.CircuitBreakerError as exc:
            raise open_error(self.breaker.name) from exc
