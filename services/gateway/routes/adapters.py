"""/v1/admin/adapters: train the tenant's query-side adapter from its verified labels, see how each version did at
the regression gate, serve one (to everyone or to a canary share of users) and roll back (the admin scope)."""

from typing import Annotated

from fastapi import APIRouter, Path

from services.gateway.deps import AdapterRegistryDep, AdminCaller, RetrainingDep
from services.gateway.learning_models import AdapterArtifact, AdapterInfo, AdapterList, FiguresList, ServeRequest
from services.gateway.routes import problems

Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="The adapter's version.")]
router = APIRouter(prefix="/v1/admin/adapters", tags=["admin"], responses=problems(400, 401, 403, 422))


@router.post("", response_model=AdapterInfo, status_code=202, responses=problems(409))
async def train_adapter(caller: AdminCaller, retraining: RetrainingDep) -> AdapterInfo:
    """Start training a new version from the tenant's labels (409 while there are too few); follow it with
    GET /v1/admin/adapters/{version}: ready (passed the gate), rejected (with the reasons) or failed."""
    return await retraining.start(caller.tenant, caller.who)


@router.get("", response_model=AdapterList)
async def list_adapters(caller: AdminCaller, adapters: AdapterRegistryDep) -> AdapterList:
    """Every version, newest first, with its gate scores and what is served."""
    return AdapterList(adapters=await adapters.listed(caller.tenant))


@router.get("/figures", response_model=FiguresList)
async def adapter_figures(caller: AdminCaller, adapters: AdapterRegistryDep) -> FiguresList:
    """Per version (0: no adapter): answers, answers disliked and liked, no-context answers, cost. A canary whose
    answers are disliked more than the served version's is rolled back automatically."""
    return FiguresList(versions=await adapters.figures(caller.tenant))


@router.get("/{version}", response_model=AdapterInfo, responses=problems(404))
async def get_adapter(version: Version, caller: AdminCaller, adapters: AdapterRegistryDep) -> AdapterInfo:
    return await adapters.get(caller.tenant, version)


@router.get("/{version}/artifact", response_model=AdapterArtifact, responses=problems(404))
async def get_artifact(version: Version, caller: AdminCaller, adapters: AdapterRegistryDep) -> AdapterArtifact:
    """Where the version's artifact is and its manifest: what it learned from (data snapshot digest, split sizes),
    its gate scores and decision, and the stored files with their sha256."""
    return await adapters.artifact(caller.tenant, version)


@router.post("/{version}/serve", response_model=AdapterInfo, responses=problems(404, 409))
async def serve_adapter(
    version: Version, body: ServeRequest, caller: AdminCaller, adapters: AdapterRegistryDep
) -> AdapterInfo:
    """Serve a version the gate passed: share 1 to everyone, less to that share of users (sticky) as a canary."""
    return await adapters.serve(caller.tenant, version, body.share)


@router.post("/rollback", response_model=AdapterList, responses=problems(409))
async def roll_back(caller: AdminCaller, adapters: AdapterRegistryDep) -> AdapterList:
    """Stop the canary; without one, serve the version served before the current one (or none)."""
    return AdapterList(adapters=await adapters.rollback(caller.tenant))
