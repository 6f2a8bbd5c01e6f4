"""Liveness, readiness, and the dependencies' state for operators.

Readiness means "this replica can serve": it does not fail because a dependency is down (every replica would then
leave the Service at once, although each still answers: degraded, from caches, or with a clear 503). Which
dependency is down is for operators: GET /v1/admin/status, and the ragmesh_gateway_dependency_up gauge.
"""

from fastapi import APIRouter

from services.gateway.admin_models import DependencyStatus
from services.gateway.deps import AdminCaller, ClientsDep
from services.gateway.routes import problems

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz() -> dict[str, bool]:
    """This replica serves requests (it answers only once its channels, Redis pool and database are open)."""
    return {"ready": True}


@router.get("/v1/admin/status", response_model=DependencyStatus, tags=["admin"], responses=problems(401, 403, 422))
async def status(caller: AdminCaller, clients: ClientsDep) -> DependencyStatus:
    """Each dependency's state as this replica sees it: its health check, and its circuit breaker."""
    return DependencyStatus(dependencies=await clients.readiness(), breakers=clients.breakers())
