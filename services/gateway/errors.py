"""gRPC statuses from downstream, turned into HTTP problems with the downstream's own message."""

import grpc
from fastapi import Request
from fastapi.responses import JSONResponse

from services.runtime.errors import REASON_KEY

_BY_REASON = {"unsupported_media_type": 415, "too_large": 413, "unprocessable": 422}
_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def http_status(exc: grpc.aio.AioRpcError) -> int:
    reason = dict(exc.trailing_metadata() or ()).get(REASON_KEY, "")
    return _BY_REASON.get(reason) or _BY_CODE.get(exc.code(), 502)


async def grpc_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, grpc.aio.AioRpcError)
    status = http_status(exc)
    detail = exc.details() or exc.code().name
    if status >= 500:
        detail = f"a backend service failed ({exc.code().name}): {detail}"
    return JSONResponse({"detail": detail}, status_code=status)
