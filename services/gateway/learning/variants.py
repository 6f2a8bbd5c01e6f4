"""Pipeline variants: /v1/query options (top_k, expansion, compression, the model, a prompt version...) that a tenant
serves to a sticky share of its users beside its defaults: an A/B test, or a canary. They are versions of the prompt
registry's "pipeline" role (learning/prompts.py), whose serving, promotion, rollback, figures per variant and
automatic rollback on dislikes or failures they share; answers record the variant they were given under. A variant
sets only what a request leaves unset: a caller's own choice always wins."""

import json

from pydantic import SecretStr, ValidationError

from services.gateway.identity import Principal
from services.gateway.learning.interactions import pseudonym
from services.gateway.learning.prompts import PIPELINE, PromptRegistry
from services.gateway.models import QueryRequest
from services.runtime.errors import InvalidArgument

# The options a variant may set: how an answer is made, never what is asked or how it is delivered.
OPTIONS = frozenset(
    {
        "top_k",
        "mode",
        "expand",
        "compress",
        "compress_method",
        "compress_min_similarity",
        "compress_passage_margin",
        "context_tokens",
        "self_query",
        "self_query_llm",
        "max_tokens",
        "model",
        "prompt_version",
        "personalize",
    }
)


def checked_options(options: dict[str, object]) -> str:
    """The options as the registry keeps them (sorted JSON); InvalidArgument naming what is not allowed."""
    if not options:
        raise InvalidArgument("options: a variant sets at least one /v1/query option")
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise InvalidArgument(f"options: {', '.join(unknown)} cannot vary; a variant sets {', '.join(sorted(OPTIONS))}")
    try:
        QueryRequest(question="?", **options)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidArgument(f"options: {problems}") from exc
    return json.dumps(options, sort_keys=True)


def applied(request: QueryRequest, options: dict[str, object]) -> QueryRequest:
    """The request with the variant's options where the caller set none."""
    return request.model_copy(update={k: v for k, v in options.items() if k not in request.model_fields_set})


class Variants:
    """Which variant each asker gets."""

    def __init__(self, registry: PromptRegistry, secret: SecretStr | None) -> None:
        self._registry = registry
        self._secret = secret

    async def chosen(self, caller: Principal, request: QueryRequest) -> tuple[QueryRequest, str]:
        """The request as the caller's variant makes it, and the variant's name ("" for the tenant's defaults)."""
        served = await self._registry.chosen(caller.tenant, PIPELINE, pseudonym(caller, self._secret))
        if served is None:
            return request, ""
        return applied(request, json.loads(served.instruction)), served.version
