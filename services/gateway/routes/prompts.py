"""/v1/admin/prompts/{role}: the tenant's prompt registry (the admin scope): write a version of the instruction,
serve it to a sticky share of users beside what everyone gets (an A/B test) or to everyone, compare the versions'
figures, roll back."""

from typing import Annotated, Literal

from fastapi import APIRouter, Path

from services.gateway.deps import AdminCaller, PromptsDep, ServiceDep
from services.gateway.learning_models import (
    PromptCreate,
    PromptFiguresList,
    PromptInfo,
    PromptList,
    ServeRequest,
)
from services.gateway.routes import problems

Role = Annotated[
    Literal["answer", "verify", "self_query", "compression", "rewrite"],
    Path(description="answer (what answers are written under), or one of the gateway's model calls"),
]
Version = Annotated[str, Path(max_length=64, pattern=r"^[a-z_]+-t\d+$", description="A version, e.g. answer-t2.")]
router = APIRouter(prefix="/v1/admin/prompts", tags=["admin"], responses=problems(400, 401, 403, 422))


@router.post("/{role}", response_model=PromptInfo, status_code=201)
async def create_prompt(role: Role, body: PromptCreate, caller: AdminCaller, prompts: PromptsDep) -> PromptInfo:
    """A new version (a draft: nobody gets it until it is served)."""
    return await prompts.create(caller.tenant, role, body.instruction, body.note, caller.who)


@router.get("/{role}", response_model=PromptList)
async def list_prompts(role: Role, caller: AdminCaller, prompts: PromptsDep, service: ServiceDep) -> PromptList:
    """Every version, newest first, with what is served; `built_in` answers when nothing is."""
    built_in = await service.generation.prompt_version()
    return PromptList(built_in=built_in, prompts=await prompts.listed(caller.tenant, role))


@router.get("/{role}/figures", response_model=PromptFiguresList)
async def prompt_figures(
    role: Role, caller: AdminCaller, prompts: PromptsDep, service: ServiceDep
) -> PromptFiguresList:
    """Per version (and the built-in): answers, liked, disliked, no-context and citing shares, median latency,
    cost: the A/B comparison."""
    versions = [info.version for info in await prompts.listed(caller.tenant, role)]
    built_in = await service.generation.prompt_version()
    return PromptFiguresList(versions=await prompts.figures(caller.tenant, [built_in, *versions]))


@router.post("/{role}/{version}/serve", response_model=PromptInfo, responses=problems(404))
async def serve_prompt(
    role: Role, version: Version, body: ServeRequest, caller: AdminCaller, prompts: PromptsDep
) -> PromptInfo:
    """Share 1: to everyone (promoted; the one served before retires). Less: to that share of users, sticky per
    user, as the canary beside what everyone else gets."""
    return await prompts.serve(caller.tenant, role, version, body.share)


@router.post("/{role}/rollback", response_model=PromptList, responses=problems(409))
async def roll_back_prompt(role: Role, caller: AdminCaller, prompts: PromptsDep, service: ServiceDep) -> PromptList:
    """Stop the canary; without one, stop serving the promoted version (the built-in answers again)."""
    built_in = await service.generation.prompt_version()
    return PromptList(built_in=built_in, prompts=await prompts.rollback(caller.tenant, role))
