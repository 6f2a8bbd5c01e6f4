"""Key tiers: how much one request may ask for. A key names its tier (JWT users and keys without one get the
default tier; the operators' bootstrap keys are bound only by the request models' own limits). A request over its
tier's bounds is refused with 422 naming the bound; LLM options a tier does not include are off by default for it,
and refused when asked for explicitly."""

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from services.gateway.identity import Principal
from services.gateway.models import Body, QueryRequest, SearchRequest
from services.runtime.errors import InvalidArgument


class Tier(BaseModel):
    """The bounds of one tier; None: only the gateway's global bound applies. Written in snake_case or, as the
    chart writes it, camelCase."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    max_top_k: int | None = Field(default=None, ge=1)
    max_context_tokens: int | None = Field(default=None, ge=50)
    max_answer_tokens: int | None = Field(default=None, ge=1)
    # LLM self-query and LLM compression (each one more model call per question).
    llm_options: bool = True


def tier_of(caller: Principal, tiers: dict[str, Tier], default: str) -> tuple[str, Tier]:
    """The caller's tier by name, and its bounds (an unbounded one for bootstrap keys)."""
    if caller.via == "bootstrap-key":
        return "", Tier()
    name = caller.tier or default
    return name, tiers.get(name, Tier())


def _over(name: str, field: str, asked: int | None, bound: int | None) -> None:
    if asked is not None and bound is not None and asked > bound:
        raise InvalidArgument(f"{field} is {asked}; this key's tier {name!r} allows at most {bound}")


def _held(
    request: Body,
    name: str,
    bounds: dict[str, tuple[int | None, int]],
    llm: dict[str, object],
    tier: Tier,
) -> Body:
    """Fields asked for are checked against their bounds; a field left out whose default is over its bound takes
    the bound. `bounds`: field -> (bound, the value the gateway uses when the request leaves it out)."""
    update: dict[str, object] = {}
    for field, (bound, default) in bounds.items():
        if field in request.model_fields_set:
            _over(name, field, getattr(request, field), bound)
        elif bound is not None and (getattr(request, field) or default) > bound:
            update[field] = bound
    if not tier.llm_options:
        if any(field in request.model_fields_set and getattr(request, field) == on for field, on in llm.items()):
            raise InvalidArgument(f"LLM self-query and LLM compression are not in this key's tier {name!r}")
        update.update({field: off for field, off in _OFF.items() if field in llm})
    return request.model_copy(update=update) if update else request


# The value that asks for an LLM option, and the one that turns it off.
_ON: dict[str, object] = {"self_query_llm": True, "compress_method": "llm"}
_OFF: dict[str, object] = {"self_query_llm": False, "compress_method": "similarity"}


def bound_query(request: QueryRequest, name: str, tier: Tier, defaults: dict[str, int]) -> QueryRequest:
    """The request held to its tier: InvalidArgument when it asks for more, the bound where its default is over
    it, LLM options off when the tier has none. `defaults`: top_k, context_tokens and max_tokens as the gateway
    fills them in."""
    bounds = {
        "top_k": (tier.max_top_k, defaults["top_k"]),
        "context_tokens": (tier.max_context_tokens, defaults["context_tokens"]),
        "max_tokens": (tier.max_answer_tokens, defaults["max_tokens"]),
    }
    return _held(request, name, bounds, _ON, tier)


def bound_search(request: SearchRequest, name: str, tier: Tier) -> SearchRequest:
    return _held(request, name, {"top_k": (tier.max_top_k, request.top_k)}, {"self_query_llm": True}, tier)
