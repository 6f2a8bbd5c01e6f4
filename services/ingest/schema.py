"""A tenant's metadata schema: the attributes its documents may carry, their types and the filter
operators each allows. Documents are checked against it on the way in; the gateway's self-query checks
every extracted filter against it on the way out, so no undeclared field or operator reaches Qdrant."""

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.runtime.errors import InvalidArgument

if TYPE_CHECKING:
    from services.ingest.catalog import Catalog

NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
KEYWORD_TYPES = ("keyword", "keywords")
NUMERIC_TYPES = ("integer", "number", "year")
# What each type supports; a field may narrow this.
OPERATORS = {
    "keyword": ("any_of", "none_of"),
    "keywords": ("any_of", "none_of"),
    "integer": ("gte", "lte"),
    "number": ("gte", "lte"),
    "year": ("gte", "lte"),
}
MAX_FIELDS = 32
MAX_VALUES = 1000
MAX_LIST = 64
MAX_KEYWORD_CHARS = 256


@dataclass
class FieldSpec:
    """One declared attribute."""

    name: str
    type: str
    description: str = ""
    operators: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)


def check_fields(fields: list[FieldSpec]) -> list[FieldSpec]:
    """The declaration with defaults filled in (every operator of the type); InvalidArgument on any error."""
    if len(fields) > MAX_FIELDS:
        raise InvalidArgument(f"{len(fields)} fields; a schema holds at most {MAX_FIELDS}")
    seen: set[str] = set()
    checked = []
    for spec in fields:
        if not NAME.fullmatch(spec.name):
            raise InvalidArgument(f"field name {spec.name!r} must match [a-z][a-z0-9_]{{0,62}}")
        if spec.name in seen:
            raise InvalidArgument(f"field {spec.name!r} is declared twice")
        seen.add(spec.name)
        if spec.type not in OPERATORS:
            raise InvalidArgument(f"field {spec.name!r}: type must be one of {', '.join(OPERATORS)}")
        allowed = OPERATORS[spec.type]
        wrong = [op for op in spec.operators if op not in allowed]
        if wrong:
            raise InvalidArgument(
                f"field {spec.name!r} ({spec.type}) takes {', '.join(allowed)}, not {', '.join(wrong)}"
            )
        if len(spec.values) > MAX_VALUES:
            raise InvalidArgument(f"field {spec.name!r}: at most {MAX_VALUES} known values")
        if spec.values and spec.type not in KEYWORD_TYPES:
            raise InvalidArgument(f"field {spec.name!r}: known values apply to keyword fields only")
        checked.append(
            FieldSpec(
                name=spec.name,
                type=spec.type,
                description=spec.description.strip(),
                operators=list(dict.fromkeys(spec.operators)) or list(allowed),
                aliases=[alias.strip().lower() for alias in spec.aliases if alias.strip()],
                values=list(dict.fromkeys(value.strip() for value in spec.values if value.strip())),
            )
        )
    return checked


def _keyword(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_KEYWORD_CHARS:
        raise InvalidArgument(
            f"attribute {name!r} must be a non-empty string of at most {MAX_KEYWORD_CHARS} characters"
        )
    return value.strip()


def check_attributes(fields: list[FieldSpec], attributes: dict[str, object]) -> dict[str, object]:
    """A document's attributes, normalised (integers as int, lists deduplicated); InvalidArgument names the
    offending attribute and what it should be."""
    if not attributes:
        return {}
    declared = {spec.name: spec for spec in fields}
    if not declared:
        raise InvalidArgument(
            "this tenant declares no metadata schema: PUT /v1/metadata-schema before sending attributes"
        )
    normalised: dict[str, object] = {}
    for name, value in attributes.items():
        spec = declared.get(name)
        if spec is None:
            raise InvalidArgument(f"attribute {name!r} is not in the metadata schema; declared: {', '.join(declared)}")
        if spec.type == "keyword":
            normalised[name] = _keyword(name, value)
        elif spec.type == "keywords":
            items = value if isinstance(value, list) else [value]
            if len(items) > MAX_LIST:
                raise InvalidArgument(f"attribute {name!r} has {len(items)} values; the limit is {MAX_LIST}")
            normalised[name] = list(dict.fromkeys(_keyword(name, item) for item in items))
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidArgument(f"attribute {name!r} must be a number ({spec.type})")
            if spec.type in ("integer", "year"):
                if float(value) != int(value):
                    raise InvalidArgument(f"attribute {name!r} must be a whole number ({spec.type})")
                value = int(value)
                if spec.type == "year" and not 1000 <= value <= 9999:
                    raise InvalidArgument(f"attribute {name!r} must be a four-digit year, got {value}")
            normalised[name] = value
    return normalised


async def declared(catalog: "Catalog", tenant: str) -> tuple[list[FieldSpec], str]:
    """The tenant's declared fields, each keyword field's values extended with those documents carry."""
    fields, updated_at = await catalog.schema(tenant)
    for spec in fields:
        if spec.type in KEYWORD_TYPES:
            observed = await catalog.observed_values(tenant, spec.name, MAX_VALUES)
            spec.values = list(dict.fromkeys([*spec.values, *observed]))[:MAX_VALUES]
    return fields, updated_at


async def replace(
    catalog: "Catalog", tenant: str, fields: list[FieldSpec], actor: str = ""
) -> tuple[list[FieldSpec], str]:
    """Replace the schema. A field documents still carry may not disappear or change type: their stored
    attributes would stop matching what queries may ask."""
    checked = check_fields(fields)
    new = {spec.name: spec.type for spec in checked}
    for old in (await catalog.schema(tenant))[0]:
        if new.get(old.name) != old.type:
            carrying = await catalog.documents_carrying(tenant, old.name)
            if carrying:
                change = f"change type to {new[old.name]}" if old.name in new else "be removed"
                raise InvalidArgument(
                    f"field {old.name!r} cannot {change}: {carrying} document(s) carry it as {old.type}"
                )
    await catalog.save_schema(tenant, checked, actor=actor)
    return await declared(catalog, tenant)
