"""One server interceptor shape: run every call (unary or streaming) inside an async context manager."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import grpc

# Given the method name and the call's context, a context manager to run the call inside.
Guard = Callable[[str, grpc.aio.ServicerContext], AbstractAsyncContextManager[None]]


class GuardInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every kind of handler in `guard`, so cross-cutting code is written once."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method, guard = handler_call_details.method, self._guard
        if handler.unary_unary is not None:
            inner_unary = handler.unary_unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                async with guard(method, context):
                    return await inner_unary(request, context)

            return handler._replace(unary_unary=unary_unary)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                async with guard(method, context):
                    async for item in inner_stream(request, context):
                        yield item

            return handler._replace(unary_stream=unary_stream)
        if handler.stream_stream is not None:
            # Bidirectional streams (server reflection) pass the same guard.
            inner_bidi = handler.stream_stream

            async def stream_stream(requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                async with guard(method, context):
                    async for item in inner_bidi(requests, context):
                        yield item

            return handler._replace(stream_stream=stream_stream)
        if handler.stream_unary is not None:
            inner_client_stream = handler.stream_unary

            async def stream_unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
                async with guard(method, context):
                    return await inner_client_stream(requests, context)

            return handler._replace(stream_unary=stream_unary)
        return handler
