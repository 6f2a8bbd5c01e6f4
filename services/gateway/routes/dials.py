"""/v1/admin/dials: learn, list and delete the tenant's dials (the admin scope). Requests turn them with `dials`."""

from typing import Annotated

from fastapi import APIRouter, Path

from services.gateway.deps import AdminCaller, DialsDep
from services.gateway.learning_models import DialInfo, DialList, LearnDialRequest
from services.gateway.models import DIAL_NAME
from services.gateway.routes import problems

DialName = Annotated[str, Path(pattern=DIAL_NAME, description="Lower-case letters, digits, - and _.")]
router = APIRouter(prefix="/v1/admin/dials", tags=["admin"], responses=problems(400, 401, 403, 422))


@router.put("/{name}", response_model=DialInfo, responses=problems(503))
async def learn_dial(name: DialName, body: LearnDialRequest, caller: AdminCaller, dials: DialsDep) -> DialInfo:
    """Learn a dial from contrastive pairs (again: replaces it). Requests then pass `dials: {name: weight}`, weight
    from -1 (towards the negative side) to 1 (towards the positive side)."""
    return await dials.learn(caller.tenant, name, body, caller.who)


@router.get("", response_model=DialList)
async def list_dials(caller: AdminCaller, dials: DialsDep) -> DialList:
    """The tenant's dials, with how well each orders held-out pairs."""
    return DialList(dials=await dials.listed(caller.tenant))


@router.delete("/{name}", status_code=204, responses=problems(404))
async def delete_dial(name: DialName, caller: AdminCaller, dials: DialsDep) -> None:
    """Delete a dial; requests that name it are refused from then on."""
    await dials.delete(caller.tenant, name)
