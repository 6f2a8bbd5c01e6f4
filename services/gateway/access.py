"""Per request, at the edge: the RED metrics by route template, one access-log line, and the trace id in the
`X-Trace-Id` response header (so a user's complaint can be found in the traces and the logs)."""

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.metrics import DURATION, ERRORS, REQUESTS
from services.runtime.telemetry import trace_id

log = logging.getLogger("ragmesh.access")
# Probes and scrapes are neither counted nor logged: they would drown the requests people make.
_QUIET = ("/healthz", "/readyz", "/metrics")


def route_of(scope: Scope) -> str:
    """The route template the request matched (`/v1/documents/{document_id}`; FastAPI leaves it in the scope), so
    labels stay bounded; "other" for a path no route matched."""
    route = scope.get("route")
    return getattr(route, "path", "other") if route is not None else "other"


class AccessLog:
    """Wraps the app (outermost but for tracing, so shed requests are counted too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_QUIET):
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500
        trace = trace_id()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if trace:
                    message["headers"] = [*message.get("headers", []), (b"x-trace-id", trace.encode())]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            route, method = route_of(scope), scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            DURATION.labels(method, route).observe(elapsed)
            if status >= 500:
                ERRORS.labels(route, str(status)).inc()
            tenant = scope.get("state", {}).get("tenant", "")
            # "200 in 123.4ms", not "200 123.4ms": seven digits in a row send a line through the scrubber's phone
            # detector (services/runtime/redaction.py, ~0.2 ms a line), which every request slower than 100 ms did.
            log.info(
                "%s %s %d in %.1fms",
                method,
                scope["path"],
                status,
                elapsed * 1000,
                extra={"event": "request", "method": method, "route": route, "status": status,
                       "duration_ms": round(elapsed * 1000, 2), "tenant": tenant},
            )  # fmt: skip
