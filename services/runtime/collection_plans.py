"""Questions about the collection (how many documents per source since May? which years have papers tagged
oncology?) as a plan: data, never query text. The gateway writes plans (from a question, or as a caller sends them)
and the ingest service runs them over its catalogue; both check a plan here against the tenant's declared fields,
so a plan naming an undeclared field, a bucket its field cannot take or an operator its type refuses is refused
before anything runs."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.runtime.errors import InvalidArgument

# Fields every document carries, with the type they group and filter as. "ingested" is when it entered the
# collection (its time buckets: year, month, day).
BUILTIN_FIELDS = {
    "source": "keyword",
    "tags": "keywords",
    "content_type": "keyword",
    "licence": "keyword",
    "ingested": "time",
}
BUCKETS = ("year", "month", "day")
NUMERIC = ("integer", "number", "year")
MAX_GROUPS = 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Grouping(_Strict):
    field: str = Field(
        description="A built-in field (source, tags, content_type, licence, ingested) or a declared one."
    )
    bucket: Literal["year", "month", "day"] | None = Field(
        default=None, description="Time buckets, for `ingested` only (and required there)."
    )


class Condition(_Strict):
    any_of: list[str] = Field(default_factory=list, max_length=100)
    none_of: list[str] = Field(default_factory=list, max_length=100)
    gte: float | None = None
    lte: float | None = None


class CollectionPlan(_Strict):
    """Count the documents a reader may see that pass `filters` and were ingested in [ingested_since,
    ingested_until), grouped by up to two fields; the groups ordered and cut to `limit`."""

    group_by: list[Grouping] = Field(default_factory=list, max_length=MAX_GROUPS)
    filters: dict[str, Condition] = Field(default_factory=dict, max_length=16)
    ingested_since: datetime | None = None
    ingested_until: datetime | None = None
    order: Literal["count_desc", "key_asc"] = "count_desc"
    limit: int = Field(default=50, ge=1, le=1000)


def field_types(declared: dict[str, str]) -> dict[str, str]:
    """Every field a plan may name, with its type: the built-ins and the tenant's declared fields."""
    return {**declared, **BUILTIN_FIELDS}


def check_plan(plan: CollectionPlan, declared: dict[str, str]) -> CollectionPlan:
    """The plan, when every field it names exists and each use fits the field's type; InvalidArgument naming the
    first problem otherwise."""
    types = field_types(declared)
    known = ", ".join(sorted(types))
    seen = set()
    for group in plan.group_by:
        kind = types.get(group.field)
        if kind is None:
            raise InvalidArgument(f"group_by: unknown field {group.field!r}; fields are: {known}")
        if group.field in seen:
            raise InvalidArgument(f"group_by: {group.field!r} twice")
        seen.add(group.field)
        if kind == "time" and group.bucket is None:
            raise InvalidArgument(f"group_by {group.field!r}: a time field needs a bucket (year, month or day)")
        if kind != "time" and group.bucket is not None:
            raise InvalidArgument(f"group_by {group.field!r}: buckets apply to ingested only")
    for name, condition in plan.filters.items():
        kind = types.get(name)
        if kind is None or kind == "time":
            raise InvalidArgument(f"filters: unknown field {name!r}; filter ingested with ingested_since/until")
        ranged = condition.gte is not None or condition.lte is not None
        listed = bool(condition.any_of or condition.none_of)
        if not ranged and not listed:
            raise InvalidArgument(f"filters: {name!r} has no values")
        if ranged and kind not in NUMERIC:
            raise InvalidArgument(f"filters: {name!r} is a {kind}: gte/lte apply to numeric fields")
        if condition.gte is not None and condition.lte is not None and condition.gte > condition.lte:
            raise InvalidArgument(f"filters: {name!r}: gte {condition.gte} is above lte {condition.lte}")
    if plan.ingested_since and plan.ingested_until and plan.ingested_since >= plan.ingested_until:
        raise InvalidArgument("ingested_since must come before ingested_until")
    return plan
