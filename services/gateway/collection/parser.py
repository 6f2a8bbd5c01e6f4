"""Questions about the collection read into plans by rule: "how many documents per source since May?", "which years
have papers tagged oncology?", "top 5 tags". A question is one only when it asks to count or list (documents, or a
field's values) and every other word it uses is accounted for (a field, a filter value, a date, a collection word):
"how many papers report that aspirin helps?" keeps content words and is left to retrieval."""

import re
from datetime import UTC, date, datetime

from services.gateway.self_query import SchemaField, SelfQueryParser
from services.gateway.self_query.fields import word_key
from services.runtime.collection_plans import CollectionPlan, Condition, Grouping

_DOCS = r"documents?|docs?|papers?|files?|manuals?|articles?|reports?|pages?|studies|study|records?|items?|entries"
_INTENT = re.compile(
    r"\b(?:how many|number of|count|counts|total|which|what|list|show|top|most common|breakdown|histogram|"
    r"distribution|per|by|each)\b"
)
_COUNTS = re.compile(r"\b(?:how many|number of|count|counts|total)\b")
_GROUP = re.compile(
    r"\b(?:per|by|for each|each|broken down by|grouped by|split by|across)\s+(?P<target>[a-z_]+)"
    r"(?:\s+and\s+(?:by\s+|per\s+)?(?P<second>[a-z_]+))?"
)
_LIST = re.compile(r"\b(?:which|what|list(?: all)?(?: the)?|show(?: me)?(?: the)?|all)\s+(?P<target>[a-z_]+)")
_TOP = re.compile(r"\b(?:top\s+(?P<n>\d{1,3})|most common|commonest)\s+(?P<target>[a-z_]+)")
_BUCKET_WORDS = {"daily": "day", "monthly": "month", "yearly": "year", "annually": "year", "annual": "year"}
_MONTHS = "january february march april may june july august september october november december".split()
_MONTH = r"(?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*(?:\s+(?P<year>(?:19|20)\d\d))?"
_SINCE = re.compile(rf"\b(?:since|after|from)\s+(?:the (?:start|beginning) of\s+)?{_MONTH}\b")
_UNTIL = re.compile(rf"\b(?:before|until|till)\s+{_MONTH}\b")
_ADDED_YEAR = re.compile(
    r"\b(?:added|uploaded|ingested|indexed)\s+(?P<op>since|after|in|before)\s+(?P<year>(?:19|20)\d\d)"
)
_LAST = re.compile(r"\b(?:in\s+)?(?:the\s+)?(?:last|past)\s+(?P<n>\d{1,3})?\s*(?P<unit>days?|weeks?|months?)\b")
_TAGGED = re.compile(r"\b(?:tagged(?:\s+(?:with|as))?|with(?:\s+the)?\s+tag)\s+['\"]?(?P<value>[\w-]+)")
_SOURCE = re.compile(
    r"\b(?:from|in)\s+(?:the\s+)?source\s+['\"]?(?P<value>[\w.-]+)|\bfrom\s+(?:the\s+)?(?P<named>[\w.-]+)\s+source\b"
)
_TYPES = {"pdf": "application/pdf", "html": "text/html", "markdown": "text/markdown", "text": "text/plain"}
_TYPE = re.compile(r"\b(?P<kind>pdf|html|markdown|text)\s+(?:" + _DOCS + r")\b")
_BUILTIN = {
    "source": "source", "sources": "source", "tag": "tags", "tags": "tags", "type": "content_type",
    "types": "content_type", "format": "content_type", "formats": "content_type", "licence": "licence",
    "licences": "licence", "license": "licence", "licenses": "licence",
}  # fmt: skip
_WORDS = re.compile(r"[a-z][a-z'-]*|\d+")
# Words a collection question may use besides fields, values and dates.
_ALLOWED = frozenset(
    (
        "a an the of in on for with to from by per each every is are was were be been do does did have has had there "
        "we you i our my your us me how many much number count counts total which what list all show top most common "
        "commonest breakdown histogram distribution grouped split across broken down value values kinds kind "
        "collection corpus library indexed stored uploaded added ingested got exist exists existing currently now "
        "so far overall altogether please tell give since after before until till last past this that these those "
        "day days week weeks month months year years daily monthly yearly annually annual and or not any "
        "start beginning tagged tag source type format about under over least more than at its their it among amongst "
        "within content "
    ).split()
    + _MONTHS
    + [m[:3] for m in _MONTHS]
    + ["sept"]
)


def _month_start(match: re.Match, today: date) -> datetime:
    month = [m[:3] for m in _MONTHS].index(match.group("month")[:3]) + 1
    year = int(match.group("year")) if match.group("year") else today.year
    if not match.group("year") and (year, month) > (today.year, today.month):
        year -= 1  # "since December", asked in May: last December
    return datetime(year, month, 1, tzinfo=UTC)


def _field_named(word: str, fields: list[SchemaField]) -> str | None:
    """The field a word names: a built-in, a declared field's name or alias (plurals by their first four letters)."""
    if word in _BUILTIN:
        return _BUILTIN[word]
    for spec in fields:
        if any(word == cue or word_key(word) == word_key(cue) for cue in spec.cues if " " not in cue):
            return spec.name
    return None


class CollectionQuestionParser:
    """Question -> plan, or None when the question is about the documents' contents."""

    def __init__(self, today: date | None = None) -> None:
        self._today = today or datetime.now(UTC).date()
        self._filters = SelfQueryParser(datetime(self._today.year, self._today.month, self._today.day, tzinfo=UTC))

    def plan(self, question: str, fields: list[SchemaField]) -> CollectionPlan | None:
        text = re.sub(r"\bcontent[ _]types?\b", "type", question.lower())
        if not _INTENT.search(text):
            return None
        groups, order, limit = self._groups(text, fields)
        about_documents = re.search(rf"\b(?:{_DOCS})\b", text) is not None
        if not groups and not (about_documents and _COUNTS.search(text)):
            return None
        extracted, _ = self._filters.parse(question, fields)
        filters = {name: Condition(**f.as_dict()) for name, f in extracted.filters.items()}
        used = {w for f in filters.values() for v in f.any_of + f.none_of for w in _WORDS.findall(v.lower())}
        for pattern, field in ((_TAGGED, "tags"), (_SOURCE, "source")):
            for match in pattern.finditer(text):
                value = match.group("value") or match.groupdict().get("named")
                # Said of a built-in field ("tagged oncology"), a value is not also a declared field's.
                for condition in filters.values():
                    condition.any_of = [v for v in condition.any_of if v.lower() != value]
                filters.setdefault(field, Condition()).any_of.append(value)
                used.add(value)
        for match in _TYPE.finditer(text):
            filters.setdefault("content_type", Condition()).any_of.append(_TYPES[match.group("kind")])
        since, until = self._window(text)
        if found := _ADDED_YEAR.search(text):
            # "added in 2025" is when documents came, not when they were published.
            year = float(found.group("year"))
            filters = {n: c for n, c in filters.items() if year not in (c.gte, c.lte)}
        filters = {n: c for n, c in filters.items() if c.any_of or c.none_of or c.gte is not None or c.lte is not None}
        if self._leftover(text, fields, used):
            return None
        return CollectionPlan(
            group_by=groups, filters=filters, ingested_since=since, ingested_until=until, order=order, limit=limit
        )

    def _groups(self, text: str, fields: list[SchemaField]) -> tuple[list[Grouping], str, int]:
        groups: list[Grouping] = []
        order, limit = "count_desc", 50
        years = [f.name for f in fields if f.type == "year"]
        added = re.search(r"\b(?:added|uploaded|ingested|indexed)\b", text) is not None
        targets = [(t, None) for m in _GROUP.finditer(text) for t in (m.group("target"), m.group("second")) if t]
        targets += [(m.group("target"), None) for m in _LIST.finditer(text)]
        targets += [(m.group("target"), m.group("n") or "10") for m in _TOP.finditer(text)]
        targets += [(_BUCKET_WORDS[w], None) for w in re.findall(r"\b(" + "|".join(_BUCKET_WORDS) + r")\b", text)]
        for word, top in targets:
            bucket = word.rstrip("s") if word.rstrip("s") in ("day", "week", "month", "year") else None
            if bucket == "week":
                bucket = "day"
            if bucket == "year" and years and not added:
                field, bucket = years[0], None
            elif bucket:
                field = "ingested"
            else:
                field = _field_named(word, fields)
            if field and all(g.field != field for g in groups) and len(groups) < 2:
                groups.append(Grouping(field=field, bucket=bucket))
                if top:
                    limit = int(top)
        # Time and years read in their order; anything else most common first.
        if groups and limit == 50 and all(g.bucket or g.field in years for g in groups):
            order = "key_asc"
        return groups, order, limit

    def _window(self, text: str) -> tuple[datetime | None, datetime | None]:
        since = until = None
        if found := _SINCE.search(text):
            since = _month_start(found, self._today)
        if found := _UNTIL.search(text):
            until = _month_start(found, self._today)
        if found := _ADDED_YEAR.search(text):
            year = int(found.group("year"))
            if found.group("op") in ("since", "after", "in"):
                since = datetime(year + (found.group("op") == "after"), 1, 1, tzinfo=UTC)
            if found.group("op") in ("in", "before"):
                until = datetime(year + (found.group("op") == "in"), 1, 1, tzinfo=UTC)
        if found := _LAST.search(text):
            n = int(found.group("n") or 1)
            days = {"d": 1, "w": 7, "m": 30}[found.group("unit")[0]] * n
            since = datetime.fromordinal(self._today.toordinal() - days).replace(tzinfo=UTC)
        return since, until

    @staticmethod
    def _leftover(text: str, fields: list[SchemaField], used: set[str]) -> list[str]:
        """Words the plan does not account for: content the question is about."""
        cues = {w for spec in fields for cue in spec.cues for w in cue.split()}
        left = []
        for word in _WORDS.findall(text):
            if word.isdigit() or word in _ALLOWED or word in used or word in cues or word in _BUILTIN:
                continue
            if re.fullmatch(_DOCS, word) or _field_named(word, fields) or word in _TYPES:
                continue
            left.append(word)
        return left
