"""Liveness and readiness."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.gateway.deps import ClientsDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is not serving."}})
async def readyz(clients: ClientsDep) -> JSONResponse:
    """Every downstream service reports SERVING and Redis answers."""
    states = await clients.readiness()
    ready = all(state == "serving" for state in states.values())
    return JSONResponse({"ready": ready, "dependencies": states}, status_code=200 if ready else 503)
