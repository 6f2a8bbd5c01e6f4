"""The self-query vocabulary: a declared field as the gateway sees it, what one field must match, and the check
every filter passes before it reaches Qdrant, whoever wrote it (the caller, the parser or the LLM)."""

import re
from dataclasses import dataclass, field
from functools import cached_property

from ragmesh.ingest.v1 import ingest_pb2
from services.runtime.metadata_types import FIELD_TYPES, OPERATORS

_WORDS = re.compile(r"[\w-]+")


def word_key(word: str) -> str:
    """What a word and its plural share: its first four characters ("study"/"studies", "meta-analysis"/"-analyses")."""
    return word[:4]


def question_keys(question: str) -> set[str]:
    """Every key a value named in the question could have: each word's first one to four characters (a short value
    "UK" is named by "UKs")."""
    return {word[:n] for word in _WORDS.findall(question.lower()) for n in range(1, 5)}


@dataclass
class SchemaField:
    """One declared field as the gateway sees it (from the ingest service's GetMetadataSchema)."""

    name: str
    type: str
    operators: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    description: str = ""

    @property
    def numeric(self) -> bool:
        return self.type in ("integer", "number", "year")

    @cached_property
    def values_by_key(self) -> dict[str, tuple[str, ...]]:
        """Known values (two characters or more) by `word_key` of their first word. Built once per schema (the
        planner keeps the fields of a schema version), so a question only tries values it could contain."""
        grouped: dict[str, list[str]] = {}
        for value in self.values:
            words = _WORDS.findall(value.lower())
            if len(value) >= 2 and words:
                grouped.setdefault(word_key(words[0]), []).append(value)
        return {key: tuple(values) for key, values in grouped.items()}

    @cached_property
    def surnames(self) -> dict[str, tuple[str, ...]]:
        """Values that look like names ("Jane Smith") by their capitalised last word."""
        grouped: dict[str, list[str]] = {}
        for value in self.values:
            parts = value.split()
            if len(parts) >= 2 and parts[-1][:1].isupper() and len(parts[-1]) >= 3:
                grouped.setdefault(parts[-1], []).append(value)
        return {name: tuple(values) for name, values in grouped.items()}

    @property
    def cues(self) -> tuple[str, ...]:
        """Words that name the field in a question: its name (underscores as spaces) and its aliases."""
        return tuple(dict.fromkeys([self.name.replace("_", " "), *self.aliases]))


def schema_fields(schema: ingest_pb2.MetadataSchema) -> list[SchemaField]:
    return [
        SchemaField(
            name=f.name,
            type=FIELD_TYPES.get(f.type, "keyword"),
            operators=tuple(OPERATORS[op] for op in f.operators if op in OPERATORS),
            aliases=tuple(a.lower() for a in f.aliases),
            values=tuple(f.values),
            description=f.description,
        )
        for f in schema.fields
    ]


@dataclass
class FieldFilter:
    """What one field must match."""

    any_of: list[str] = field(default_factory=list)
    none_of: list[str] = field(default_factory=list)
    gte: float | None = None
    lte: float | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.any_of:
            out["any_of"] = self.any_of
        if self.none_of:
            out["none_of"] = self.none_of
        if self.gte is not None:
            out["gte"] = int(self.gte) if float(self.gte).is_integer() else self.gte
        if self.lte is not None:
            out["lte"] = int(self.lte) if float(self.lte).is_integer() else self.lte
        return out


@dataclass
class SelfQuery:
    """The filters read from a question and the question without them."""

    filters: dict[str, FieldFilter] = field(default_factory=dict)
    query: str = ""
    method: str = "parser"

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {name: f.as_dict() for name, f in self.filters.items()}


class FilterError(ValueError):
    """A filter the schema does not allow; the message says which field and why."""


def check_filter(spec: SchemaField, wanted: FieldFilter) -> None:
    """Raise FilterError unless every operator used is declared for the field and every value fits its type."""
    used = [op for op in ("any_of", "none_of", "gte", "lte") if getattr(wanted, op) not in (None, [])]
    if not used:
        raise FilterError(f"filter on {spec.name!r} has no values")
    refused = [op for op in used if op not in spec.operators]
    if refused:
        raise FilterError(
            f"field {spec.name!r} ({spec.type}) allows {', '.join(spec.operators)}, not {', '.join(refused)}"
        )
    if wanted.gte is not None and wanted.lte is not None and wanted.gte > wanted.lte:
        raise FilterError(f"filter on {spec.name!r}: gte {wanted.gte} is above lte {wanted.lte}")
