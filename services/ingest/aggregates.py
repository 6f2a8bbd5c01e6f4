"""Questions about the collection answered from the catalogue: a checked plan (services/runtime/collection_plans.py)
counted over the documents a reader may see. The database selects the reader's documents in the plan's ingest
window (one statement built from the plan's values, never from its text); grouping and attribute filters run here
over those rows, because tags and declared attributes live in JSON columns whose SQL differs between SQLite and
PostgreSQL, while the rows a tenant has are few enough to count in memory."""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import product

from sqlalchemy import select

from services.ingest.catalog import visible_to
from services.ingest.records.database import Database
from services.ingest.records.models import Document
from services.runtime.access import Viewer
from services.runtime.collection_plans import NUMERIC, CollectionPlan, Condition, check_plan

_BUCKET_FORMATS = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d"}


@dataclass
class Counted:
    columns: list[str]
    rows: list[tuple[list[str], int]]
    matched: int
    groups: int


def _values(row, name: str) -> list[object]:
    """A document's values for a field: built-in columns, else its declared attribute (one or a list)."""
    if name in ("source", "content_type", "licence"):
        value = getattr(row, name)
        return [value] if value else []
    if name == "tags":
        return list(row.tags or [])
    value = (row.attributes or {}).get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _passes(row, name: str, condition: Condition, numeric: bool) -> bool:
    values = _values(row, name)
    if numeric and (condition.gte is not None or condition.lte is not None):
        numbers = [float(v) for v in values if isinstance(v, int | float) or str(v).replace(".", "", 1).isdigit()]
        if not any(
            (condition.gte is None or n >= condition.gte) and (condition.lte is None or n <= condition.lte)
            for n in numbers
        ):
            return False
    texts = {str(v).lower() for v in values}
    if condition.any_of and not texts & {v.lower() for v in condition.any_of}:
        return False
    return not (condition.none_of and texts & {v.lower() for v in condition.none_of})


def _keys(row, plan: CollectionPlan) -> Iterator[tuple[str, ...]]:
    """The groups a document counts in: one per combination of its values (a document tagged twice counts under
    both tags)."""
    per_group = []
    for group in plan.group_by:
        if group.bucket:
            per_group.append([row.created_at.strftime(_BUCKET_FORMATS[group.bucket])])
        else:
            values = [str(v) for v in _values(row, group.field)]
            per_group.append(list(dict.fromkeys(values)) or ["(none)"])
    yield from product(*per_group)


def _utc(moment: datetime) -> datetime:
    """A plan's moment in UTC (one without a zone is taken as UTC), as the catalogue keeps its times."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class CollectionCounts:
    """Runs collection plans for any tenant."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def count(self, tenant: str, viewer: Viewer, plan: CollectionPlan, declared: dict[str, str]) -> Counted:
        check_plan(plan, declared)
        where = [Document.tenant == tenant, visible_to(viewer)]
        if plan.ingested_since:
            where.append(Document.created_at >= _utc(plan.ingested_since))
        if plan.ingested_until:
            where.append(Document.created_at < _utc(plan.ingested_until))
        columns = (Document.source, Document.tags, Document.content_type, Document.licence, Document.attributes)
        async with self._database.reading() as session:
            rows = (await session.execute(select(*columns, Document.created_at).where(*where))).all()
        kept = [
            row
            for row in rows
            if all(_passes(row, name, c, declared.get(name) in NUMERIC) for name, c in plan.filters.items())
        ]
        tally: Counter[tuple[str, ...]] = Counter()
        for row in kept:
            tally.update(_keys(row, plan))
        if plan.order == "key_asc":
            ordered = sorted(tally.items())
        else:
            ordered = sorted(tally.items(), key=lambda item: (-item[1], item[0]))
        names = [g.field if not g.bucket else f"ingested_{g.bucket}" for g in plan.group_by]
        return Counted(
            columns=[*names, "documents"],
            rows=[(list(keys), n) for keys, n in ordered[: plan.limit]],
            matched=len(kept),
            groups=len(ordered),
        )
