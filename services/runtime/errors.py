"""Domain errors, and the one place that maps every error to a gRPC status."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

log = logging.getLogger(__name__)


# Trailing-metadata key carrying a machine-readable reason next to the status (e.g. "unsupported_media_type"),
# so the gateway can pick the right HTTP status without parsing messages.
REASON_KEY = "ragmesh-reason"
# The reason of an UNAVAILABLE that is not an outage: a model answered, but nothing usable (circuit breakers and
# retries leave it alone).
INVALID_OUTPUT = "invalid_output"


class ServiceError(Exception):
    """An expected failure whose message is safe to show to the caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class InvalidArgument(ServiceError):
    """The request is malformed; the message says what is wrong."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServiceError):
    """The named resource does not exist (for this tenant)."""

    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(ServiceError):
    """The request is sound but the stored state cannot serve it; the message says what to do."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(ServiceError):
    """The work lost a race with a concurrent change (another replica's); repeating the request sees its result."""

    code = grpc.StatusCode.ABORTED


class Unavailable(ServiceError):
    """A dependency is down; the caller may retry or degrade."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(ServiceError):
    """The caller's deadline passed before the work was done; it was dropped, not done late."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Unauthenticated(ServiceError):
    """No credential, or one that proves nothing (malformed, unknown, expired, revoked)."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(ServiceError):
    """The caller is known but may not do this (a missing scope, another tenant)."""

    code = grpc.StatusCode.PERMISSION_DENIED


@asynccontextmanager
async def map_errors(method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
    """ServiceError subclasses become their status; anything unexpected becomes INTERNAL."""
    try:
        yield
    except grpc.aio.AbortError:
        raise
    except ServiceError as exc:
        await context.abort(exc.code, str(exc), trailing_metadata=((REASON_KEY, exc.reason),) if exc.reason else ())
    except Exception:
        # Keep the details in the log, not in the caller's hands.
        log.exception("unexpected error in %s", method)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}; see the service log")
