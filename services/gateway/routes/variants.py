"""/v1/admin/variants: pipeline variants (the admin scope): /v1/query options served to a sticky share of users beside
the defaults (an A/B test or a canary), compared by their figures, promoted to everyone or rolled back; a canary whose
answers are disliked or fail more than the rest's rolls itself back."""

import json
from typing import Annotated

from fastapi import APIRouter, Path

from services.gateway.deps import AdminCaller, PromptsDep
from services.gateway.learning.prompts import PIPELINE
from services.gateway.learning.variants import checked_options
from services.gateway.learning_models import (
    PromptFiguresList,
    PromptInfo,
    ServeRequest,
    VariantCreate,
    VariantInfo,
    VariantList,
)
from services.gateway.routes import problems

Version = Annotated[str, Path(max_length=64, pattern=r"^pipeline-t\d+$", description="A variant, e.g. pipeline-t2.")]
router = APIRouter(prefix="/v1/admin/variants", tags=["admin"], responses=problems(400, 401, 403, 422))


def _variant(info: PromptInfo) -> VariantInfo:
    return VariantInfo(options=json.loads(info.instruction), **info.model_dump(exclude={"role", "instruction"}))


@router.post("", response_model=VariantInfo, status_code=201)
async def create_variant(body: VariantCreate, caller: AdminCaller, prompts: PromptsDep) -> VariantInfo:
    """A new variant (a draft: nobody gets it until it is served); 422 for an option that cannot vary."""
    options = checked_options(body.options)
    by = caller.who
    return _variant(await prompts.create(caller.tenant, PIPELINE, options, body.note, by))


@router.get("", response_model=VariantList)
async def list_variants(caller: AdminCaller, prompts: PromptsDep) -> VariantList:
    return VariantList(variants=[_variant(info) for info in await prompts.listed(caller.tenant, PIPELINE)])


@router.get("/figures", response_model=PromptFiguresList)
async def variant_figures(caller: AdminCaller, prompts: PromptsDep) -> PromptFiguresList:
    """Per variant ("" : the defaults): answers, liked, disliked, no-context and citing shares, latency, cost."""
    versions = ["", *(info.version for info in await prompts.listed(caller.tenant, PIPELINE))]
    return PromptFiguresList(versions=await prompts.figures(caller.tenant, versions, PIPELINE))


@router.post("/{version}/serve", response_model=VariantInfo, responses=problems(404))
async def serve_variant(version: Version, body: ServeRequest, caller: AdminCaller, prompts: PromptsDep) -> VariantInfo:
    """Share 1: everyone's (promoted). Less: that share of users, sticky per user, beside the defaults."""
    return _variant(await prompts.serve(caller.tenant, PIPELINE, version, body.share))


@router.post("/rollback", response_model=VariantList, responses=problems(409))
async def roll_back_variant(caller: AdminCaller, prompts: PromptsDep) -> VariantList:
    """Stop the canary; without one, stop serving the promoted variant (the defaults again)."""
    return VariantList(variants=[_variant(info) for info in await prompts.rollback(caller.tenant, PIPELINE)])
