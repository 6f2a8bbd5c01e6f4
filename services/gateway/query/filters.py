"""The caller's metadata filters: checked against the built-in fields and the tenant's declared schema, then
turned into the retriever's filter."""

from ragmesh.retriever.v1 import retriever_pb2
from services.gateway.models import FilterSpec, FilterValues
from services.gateway.self_query import FieldFilter, FilterError, SchemaField, check_filter
from services.runtime.errors import InvalidArgument

# Fields every chunk carries; anything else must be an attribute the tenant's schema declares.
BUILTIN_FILTERS = ("document_id", "source", "tags", "licence", "content_type", "title")


def _field_filter(value: str | int | float | list[str] | FilterValues) -> FieldFilter:
    if isinstance(value, FilterValues):
        return FieldFilter(any_of=list(value.any_of), none_of=list(value.none_of), gte=value.gte, lte=value.lte)
    if isinstance(value, int | float):
        return FieldFilter(gte=float(value), lte=float(value))
    return FieldFilter(any_of=[value] if isinstance(value, str) else list(value))


def needs_schema(filters: FilterSpec) -> bool:
    """Whether checking these filters needs the tenant's schema (an attribute, not a built-in field)."""
    return any(name not in BUILTIN_FILTERS for name in filters)


def explicit_filters(filters: FilterSpec, fields: list[SchemaField]) -> dict[str, FieldFilter]:
    """The caller's filters, checked: a built-in field takes values, a declared attribute what its schema
    allows; anything else is InvalidArgument listing what may be filtered on."""
    declared = {spec.name: spec for spec in fields}
    checked: dict[str, FieldFilter] = {}
    for name, value in filters.items():
        wanted = _field_filter(value)
        if name in BUILTIN_FILTERS:
            if wanted.gte is not None or wanted.lte is not None:
                raise InvalidArgument(f"filter on {name!r}: gte/lte apply to numeric attributes only")
            if not wanted.any_of and not wanted.none_of:
                raise InvalidArgument(f"filter on {name!r} has no values")
        elif name in declared:
            spec = declared[name]
            if spec.numeric and (wanted.any_of or wanted.none_of):
                raise InvalidArgument(f"{name!r} is a {spec.type}: filter it with a number, gte or lte")
            try:
                check_filter(spec, wanted)
            except FilterError as exc:
                raise InvalidArgument(str(exc)) from exc
        else:
            known = ", ".join([*BUILTIN_FILTERS, *declared])
            raise InvalidArgument(f"unknown filter field {name!r}; filterable fields are: {known}")
        checked[name] = wanted
    return checked


def to_retriever_filter(filters: dict[str, FieldFilter]) -> retriever_pb2.Filter:
    """The retriever's filter: built-in fields by name, declared attributes under `attributes.`."""
    conditions = []
    for name, wanted in filters.items():
        condition = retriever_pb2.Condition(
            field=name if name in BUILTIN_FILTERS else f"attributes.{name}",
            any_of=wanted.any_of,
            none_of=wanted.none_of,
        )
        if wanted.gte is not None:
            condition.gte = wanted.gte
        if wanted.lte is not None:
            condition.lte = wanted.lte
        conditions.append(condition)
    return retriever_pb2.Filter(must=conditions)
