"""Load shedding: past `max_in_flight_requests` requests in flight on this replica, the next is answered 503 with
Retry-After at once, before any work, rather than queued until every request is slow. Health, readiness and
metrics are never shed (the kubelet and Prometheus must still reach a busy replica). An ASGI middleware written by
hand: Starlette and uvicorn cap connections (uvicorn's limit_concurrency) but answer that cap with a bare 503 that
also refuses the probes."""

import json

from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

IN_FLIGHT = Gauge("ragmesh_gateway_requests_in_flight", "HTTP requests this replica is serving.")
SHED = Counter("ragmesh_gateway_shed_total", "Requests answered 503 at once because the replica was full.")
_NEVER_SHED = ("/healthz", "/readyz", "/metrics")


class LoadShedding:
    """Wraps the app; counts requests in flight and sheds past the limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self._limit = limit
        self._in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._limit or scope["path"].startswith(_NEVER_SHED):
            await self.app(scope, receive, send)
            return
        if self._in_flight >= self._limit:
            SHED.inc()
            body = json.dumps({"detail": "this gateway is at capacity; try again shortly"}).encode()
            headers = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        self._in_flight += 1
        IN_FLIGHT.set(self._in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self._in_flight -= 1
            IN_FLIGHT.set(self._in_flight)
