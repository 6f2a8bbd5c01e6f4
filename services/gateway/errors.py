"""The one table from the project's errors to HTTP statuses: the query path and the auth code raise
`services.runtime.errors` types, downstream services answer gRPC statuses; both become a problem body here."""

import logging

import grpc
import sqlalchemy.exc
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.gateway.budgets import BudgetExceeded
from services.gateway.ratelimits import RateLimited
from services.runtime.errors import (
    REASON_KEY,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ServiceError,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)
# Reasons a service sends beside its status, for statuses gRPC has no code for.
_BY_REASON = {
    "unsupported_media_type": 415,
    "too_large": 413,
    "unprocessable": 422,
    "too_complex": 422,
    # A licence on the exclusion list, a page that opts out of AI use, a URL excluded or disallowed by robots.txt.
    "excluded": 422,
}
_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# The records database did not answer (down, or every pooled connection busy past the pool's timeout).
DATABASE_UNAVAILABLE = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.TimeoutError)
DATABASE_DETAIL = "the records database is unavailable; try again shortly"
_BY_ERROR: dict[type[ServiceError], int] = {
    RateLimited: 429,
    BudgetExceeded: 429,
    InvalidArgument: 422,
    Unauthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    FailedPrecondition: 409,
    Unavailable: 503,
}


def http_status(exc: grpc.aio.AioRpcError) -> int:
    reason = dict(exc.trailing_metadata() or ()).get(REASON_KEY, "")
    return _BY_REASON.get(reason) or _BY_CODE.get(exc.code(), 502)


def _grpc_problem(exc: grpc.aio.AioRpcError) -> tuple[int, str]:
    status = http_status(exc)
    if status >= 500:
        # The client learns which kind of failure, never the internals (addresses, model names, stack details).
        log.warning("downstream call failed: %s %s", exc.code().name, exc.details())
        return status, f"a backend service is unavailable ({exc.code().name}); try again shortly"
    return status, exc.details() or exc.code().name


def _service_status(exc: ServiceError) -> int:
    return next((code for kind, code in _BY_ERROR.items() if isinstance(exc, kind)), 500)


def problem(exc: BaseException) -> tuple[int, str] | None:
    """The status and detail a known failure is answered with (None: not one of ours, a bug). For the items of a
    batch, which fail one by one inside a response that succeeds."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return _grpc_problem(exc)
    if isinstance(exc, ServiceError):
        return _service_status(exc), str(exc)
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return 503, DATABASE_DETAIL
    return None


async def grpc_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, grpc.aio.AioRpcError)
    status, detail = _grpc_problem(exc)
    headers = {"Retry-After": "1"} if status >= 500 else None
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


async def service_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    status = _service_status(exc)
    headers = {"WWW-Authenticate": 'Bearer realm="ragmesh"'} if status == 401 else {}
    if isinstance(exc, RateLimited | BudgetExceeded):
        headers = {
            "Retry-After": str(exc.retry_after),
            "RateLimit-Limit": str(exc.limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(exc.retry_after),
        }
    elif status == 503:
        headers = {"Retry-After": "1"}
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers or None)


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """503 with Retry-After, never a 500 with the database's internals."""
    log.warning("the records database did not answer: %s", exc)
    return JSONResponse({"detail": DATABASE_DETAIL}, status_code=503, headers={"Retry-After": "1"})


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Request validation failures in the same problem shape as every other error: one string naming each field
    and what is wrong with it."""
    assert isinstance(exc, RequestValidationError)
    reasons = [f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()]
    return JSONResponse({"detail": "; ".join(reasons) or "invalid request"}, status_code=422)
