"""Deadlines that travel: a service never works on a call past the moment its caller stops waiting.

On the server side, every call records its deadline (the caller's timeout, as gRPC carries it) in a context
variable for as long as the handler runs; on the client side, every call a handler makes downstream has its
timeout cut to what is left of that deadline, and one that has no time left fails at once with
DEADLINE_EXCEEDED instead of starting work nobody will wait for. gRPC carries a timeout one hop but does not
chain it from a server to the calls its handler makes (in Python), hence these few lines.
"""

import contextvars
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

# When the call being served must be answered (time.monotonic()); None: its caller set no deadline.
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("ragmesh_deadline", default=None)


@asynccontextmanager
async def within_deadline(method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
    """A server guard: the call's deadline, for the calls its handler makes."""
    remaining = context.time_remaining()
    token = DEADLINE.set(None if remaining is None else time.monotonic() + remaining)
    try:
        yield
    finally:
        DEADLINE.reset(token)


def _expired(method: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(),
        details=f"no time left for {method}: the caller's deadline has passed",
    )


class DeadlineInterceptor(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    """Cuts each outgoing call's timeout to what is left of the deadline of the call being served."""

    @staticmethod
    def _bounded(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        deadline = DEADLINE.get()
        if deadline is None:
            return details
        left = deadline - time.monotonic()
        if left <= 0:
            method = details.method.decode() if isinstance(details.method, bytes) else details.method
            raise _expired(method)
        timeout = left if details.timeout is None else min(details.timeout, left)
        return details._replace(timeout=timeout)

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(self._bounded(client_call_details), request)

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(self._bounded(client_call_details), request)
