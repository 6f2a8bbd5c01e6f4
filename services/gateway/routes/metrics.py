"""GET /metrics on the public port, for administrators only: the suite's Prometheus metrics are not for the
public. Prometheus scrapes the gateway's own metrics port instead (`metrics_port`; the chart sets it), which serves
the same registry unauthenticated inside the cluster."""

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from services.gateway.deps import AdminCaller
from services.gateway.routes import problems

router = APIRouter(tags=["admin"], responses=problems(401, 403, 422))


@router.get("/metrics", response_class=Response)
async def metrics(caller: AdminCaller) -> Response:
    """The gateway's metrics in Prometheus's text format (admin scope)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
