"""The deterministic half of self-query: years, numbers with a comparison ("more than 100 citations") and the
known values of keyword fields (declared, or carried by documents), read out of the question; no model, the same
answer every time. Fields the question names that it could not fill are handed to the LLM half (`llm.py`)."""

import re
from datetime import UTC, datetime

from services.gateway.self_query.fields import FieldFilter, SchemaField, SelfQuery, question_keys

_YEAR = r"((?:1[5-9]|20)\d\d)"
_NUMBER = r"(\d+(?:\.\d+)?)"
# Words just before a value that turn it into an exclusion.
_NEGATION = re.compile(
    r"\b(?:not|excluding|except|without|other than|apart from|besides|but not|no)\W+(?:\w+\W+){0,2}$"
)
# Comparison words and what they mean for an integer N: (gte, lte) as functions of N.
_AT_LEAST = r"at least|no fewer than|no less than|minimum of|min\.?|>=|≥"
_MORE = r"more than|over|above|greater than|higher than|exceeding|>"
_AT_MOST = r"at most|no more than|up to|maximum of|max\.?|<=|≤"
_FEWER = r"fewer than|less than|under|below|lower than|<"
_EXACTLY = r"exactly|precisely"
# Left over after parsing, these say the question holds a constraint the parser could not place.
_LEFTOVER_COMPARISON = re.compile(rf"\b(?:{_AT_LEAST}|{_MORE}|{_AT_MOST}|{_FEWER}|{_EXACTLY})\s+\d")
_ACRONYM = re.compile(r"\b[A-Z][A-Z&]{1,6}\b")
# Words that carry no topic: a question left with only these is searched whole.
_FILLER = frozenset(
    "and or the papers paper articles article studies study work works anything everything what which "
    "any all documents document reports report published publish written".split()
)


class _Text:
    """The question with the spans the parser has used up, so two rules never read the same words."""

    def __init__(self, question: str) -> None:
        self.original = question
        self.lower = question.lower()
        self.used = [False] * len(question)

    def free(self, start: int, end: int) -> bool:
        return not any(self.used[start:end])

    def take(self, start: int, end: int) -> None:
        for i in range(start, end):
            self.used[i] = True

    def finditer(self, pattern: str):
        for match in re.finditer(pattern, self.lower):
            if self.free(match.start(), match.end()):
                yield match

    def before(self, start: int, words: int = 3) -> str:
        head = self.lower[:start].rstrip()
        return " ".join(head.split()[-words:])

    def unused(self) -> str:
        """The words no rule has read, in their original case."""
        return self._remainder()

    def remainder(self) -> str:
        """What is left of the question for retrieval; the whole question when only filler words remain."""
        kept = self._remainder()
        content = [w for w in re.findall(r"[a-z]{3,}", kept.lower()) if w not in _FILLER]
        return kept if content else self.original

    def _remainder(self) -> str:
        kept = "".join(ch if not used else " " for ch, used in zip(self.original, self.used, strict=True))
        kept = re.sub(r"\s+([,.;:?!])", r"\1", " ".join(kept.split()))
        # Connectives stranded at the edges by a removed phrase ("... and", "from ?").
        kept = re.sub(r"(?:\s+\b(?:and|or|from|in|by|of|with|tagged|published|written)\b)+\s*([?.!]?)$", r"\1", kept)
        return kept.strip(" ,;")


def _merge(into: dict[str, FieldFilter], name: str, found: FieldFilter) -> None:
    current = into.setdefault(name, FieldFilter())
    current.any_of.extend(v for v in found.any_of if v not in current.any_of)
    current.none_of.extend(v for v in found.none_of if v not in current.none_of)
    if found.gte is not None:
        current.gte = found.gte if current.gte is None else max(current.gte, found.gte)
    if found.lte is not None:
        current.lte = found.lte if current.lte is None else min(current.lte, found.lte)


class SelfQueryParser:
    """The deterministic half: no model, the same answer every time."""

    def __init__(self, today: datetime | None = None) -> None:
        self._year = (today or datetime.now(UTC)).year

    def parse(self, question: str, fields: list[SchemaField]) -> tuple[SelfQuery, list[SchemaField]]:
        """The filters found, and the fields the question names that the parser could not fill."""
        text = _Text(question)
        found: dict[str, FieldFilter] = {}
        years = [f for f in fields if f.type == "year"]
        if years:
            self._years(text, self._pick(text, years), found)
        for spec in fields:
            if spec.type in ("integer", "number"):
                self._numbers(text, spec, found)
        self._keywords(text, [f for f in fields if f.type in ("keyword", "keywords")], found)
        found = {name: f for name, f in found.items() if f.as_dict()}
        unresolved = [f for f in fields if f.name not in found and self._named(text, f)]
        left = text.unused()
        if _LEFTOVER_COMPARISON.search(left.lower()):
            # "cited at least 25 times": a bound on a numeric field nobody named.
            unresolved += [f for f in fields if f.type in ("integer", "number") and f.name not in found]
        if _ACRONYM.search(left):
            # "NEJM": perhaps an abbreviation of a known value.
            unresolved += [f for f in fields if f.values and not f.numeric and f.name not in found]
        unresolved = list({f.name: f for f in unresolved}.values())
        return SelfQuery(filters=found, query=text.remainder() or question), unresolved

    @staticmethod
    def _pick(text: _Text, years: list[SchemaField]) -> SchemaField:
        """With several year fields, the one the question names; else the first declared."""
        for spec in years:
            if any(re.search(rf"\b{re.escape(cue)}\b", text.lower) for cue in spec.cues):
                return spec
        return years[0]

    @staticmethod
    def _named(text: _Text, spec: SchemaField) -> bool:
        """The question names the field: a long cue ("journal", "citations") anywhere unused, or a short one
        ("by", "in") followed by a capitalised word the parser did not know ("by Someone")."""
        for cue in spec.cues:
            for m in re.finditer(rf"\b{re.escape(cue)}\b", text.lower):
                if not text.free(m.start(), m.end()):
                    continue
                if len(cue) > 4 or re.match(r"\s+[A-Z]", text.original[m.end() :]):
                    return True
        return False

    def _years(self, text: _Text, spec: SchemaField, found: dict[str, FieldFilter]) -> None:
        cue = "|".join(re.escape(c) for c in spec.cues)
        lead = rf"(?:(?:{cue})\s+)?(?:(?:published|released|written|dated|appeared|papers?|articles?|documents?)\s+)?"
        rules: list[tuple[str, object]] = [
            (rf"\b{lead}between\s+{_YEAR}\s+and\s+{_YEAR}\b", lambda m: (int(m[1]), int(m[2]))),
            (
                rf"\b{lead}(?:from\s+)?{_YEAR}\s*(?:-|–|to|through|until|till)\s*{_YEAR}\b",
                lambda m: (int(m[1]), int(m[2])),
            ),
            (
                rf"\b{lead}(?:from|in)\s+{_YEAR}\s+(?:on(?:wards?)?|and\s+(?:later|after|since))\b",
                lambda m: (int(m[1]), None),
            ),
            (rf"\b{lead}{_YEAR}\s+(?:or|and)\s+(?:later|after|newer)\b", lambda m: (int(m[1]), None)),
            (rf"\b{lead}{_YEAR}\s+(?:or|and)\s+(?:earlier|before|older)\b", lambda m: (None, int(m[1]))),
            (rf"\b{lead}(?:since|starting(?:\s+in)?|as\s+of)\s+{_YEAR}\b", lambda m: (int(m[1]), None)),
            (rf"\b{lead}(?:after|later\s+than)\s+{_YEAR}\b", lambda m: (int(m[1]) + 1, None)),
            (
                rf"\b{lead}(?:before|prior\s+to|earlier\s+than|older\s+than)\s+{_YEAR}\b",
                lambda m: (None, int(m[1]) - 1),
            ),
            (rf"\b{lead}(?:newer\s+than|more\s+recent\s+than)\s+{_YEAR}\b", lambda m: (int(m[1]) + 1, None)),
            (rf"\b{lead}(?:until|up\s+to|through|no\s+later\s+than)\s+{_YEAR}\b", lambda m: (None, int(m[1]))),
            (
                r"\b(?:in|from|over|during)\s+the\s+(?:last|past)\s+(\d{1,2})\s+years?\b",
                lambda m: (self._year - int(m[1]) + 1, None),
            ),
            (r"\b(?:this|the\s+current)\s+year\b", lambda m: (self._year, self._year)),
            (r"\blast\s+year\b", lambda m: (self._year - 1, self._year - 1)),
            (rf"\b{lead}(?:in|from|during|of)\s+{_YEAR}\b", lambda m: (int(m[1]), int(m[1]))),
            (rf"\b(?:{cue})\s+{_YEAR}\b", lambda m: (int(m[1]), int(m[1]))),
            (rf"\b{_YEAR}\s+(?:papers?|articles?|studies|documents?|reports?)\b", lambda m: (int(m[1]), int(m[1]))),
        ]
        for pattern, bounds in rules:
            for match in text.finditer(pattern):
                gte, lte = bounds(match)
                text.take(match.start(), match.end())
                _merge(found, spec.name, FieldFilter(gte=gte, lte=lte))

    def _numbers(self, text: _Text, spec: SchemaField, found: dict[str, FieldFilter]) -> None:
        whole = spec.type == "integer"
        step = 1 if whole else 0
        cue = "|".join(re.escape(c) for c in spec.cues)
        meanings = [
            (_AT_LEAST, lambda n: (n, None)),
            (_MORE, lambda n: (n + step, None)),
            (_AT_MOST, lambda n: (None, n)),
            (_FEWER, lambda n: (None, n - step)),
            (_EXACTLY, lambda n: (n, n)),
        ]
        for words, bounds in meanings:
            for pattern in (
                # "more than 100 citations", "at least 10 pages"
                rf"\b(?:with\s+)?(?:{words})\s+{_NUMBER}\s+(?:\w+\s+)?(?:{cue})\b",
                # "citations above 100", "impact factor of at least 5"
                rf"\b(?:with\s+)?(?:an?\s+)?(?:{cue})\s+(?:(?:of|is|was)\s+)?(?:{words})\s+{_NUMBER}\b",
            ):
                for match in text.finditer(pattern):
                    number = float(match[1])
                    gte, lte = bounds(int(number) if whole and number.is_integer() else number)
                    text.take(match.start(), match.end())
                    _merge(found, spec.name, FieldFilter(gte=gte, lte=lte))
        # "between 10 and 20 pages", "pages between 10 and 20".
        for pattern in (
            rf"\b(?:with\s+)?between\s+{_NUMBER}\s+and\s+{_NUMBER}\s+(?:{cue})\b",
            rf"\b(?:with\s+)?(?:{cue})\s+(?:of\s+)?between\s+{_NUMBER}\s+and\s+{_NUMBER}\b",
        ):
            for match in text.finditer(pattern):
                low, high = sorted((float(match[1]), float(match[2])))
                text.take(match.start(), match.end())
                _merge(found, spec.name, FieldFilter(gte=low, lte=high))
        # "100 citations or more", "5 pages or fewer".
        for match in text.finditer(
            rf"\b(?:with\s+)?{_NUMBER}\s+(?:{cue})\s+or\s+(more|greater|higher|fewer|less|lower)\b"
        ):
            number = float(match[1])
            above = match[2] in ("more", "greater", "higher")
            text.take(match.start(), match.end())
            _merge(found, spec.name, FieldFilter(gte=number if above else None, lte=None if above else number))
        # "with 12 pages": an exact count.
        for match in text.finditer(rf"\b(?:with\s+)?{_NUMBER}\s+(?:{cue})\b"):
            number = float(match[1])
            text.take(match.start(), match.end())
            _merge(found, spec.name, FieldFilter(gte=number, lte=number))

    def _keywords(self, text: _Text, fields: list[SchemaField], found: dict[str, FieldFilter]) -> None:
        # Every (value, field) the question could mean, longest values first so "New England Journal of
        # Medicine" wins over "Medicine".
        # Only values the question could contain: the first word's key among the question's, and the value (less
        # the two characters a plural may change) inside it. Neither scans the schema: cost follows the question.
        keys, lower = question_keys(text.original), text.lower
        candidates = sorted(
            (
                (value, spec)
                for spec in fields
                for key in keys & spec.values_by_key.keys()
                for value in spec.values_by_key[key]
                if value.lower()[: max(2, len(value) - 2)] in lower
            ),
            key=lambda pair: -len(pair[0]),
        )
        by_value: dict[str, list[SchemaField]] = {}
        for value, spec in candidates:
            by_value.setdefault(value.lower(), []).append(spec)
        seen: set[str] = set()
        for value, _ in candidates:
            key = value.lower()
            if key in seen:
                continue
            seen.add(key)
            for match in text.finditer(rf"(?<![\w-]){_plural(key)}(?:'s)?(?![\w-])"):
                matched = text.original[match.start() : match.end()]
                # A proper-noun value written in lower case ("the nature of") counts only after the field's cue.
                if value[0].isupper() and matched[0].islower():
                    before = text.before(match.start(), 4)
                    specs = [s for s in by_value[key] if any(re.search(rf"\b{re.escape(c)}$", before) for c in s.cues)]
                    if not specs:
                        continue
                else:
                    specs = by_value[key]
                self._claim(text, match.start(), match.end(), value, specs, found)
        # Surnames: "by Smith", "Lindqvist's work" when "Jane Smith" is a known value, written capitalised,
        # and no other known value shares that last word.
        words = set(re.findall(r"\b[A-Z]\w{2,}", text.original))
        surnames: dict[str, list[tuple[str, SchemaField]]] = {}
        for spec in fields:
            # In schema order, as before: the filter lists values in the order the schema knows them.
            for surname in (name for name in spec.surnames if name in words):
                surnames.setdefault(surname, []).extend((value, spec) for value in spec.surnames[surname])
        for surname, owners in surnames.items():
            if len(owners) != 1:
                continue
            value, spec = owners[0]
            for match in re.finditer(rf"\b{re.escape(surname)}(?:'s)?\b", text.original):
                if text.free(match.start(), match.end()):
                    self._claim(text, match.start(), match.end(), value, [spec], found)

    @staticmethod
    def _claim(
        text: _Text, start: int, end: int, value: str, specs: list[SchemaField], found: dict[str, FieldFilter]
    ) -> None:
        before = text.before(start, 4)
        # Ambiguous value (a tag and a journal both called "Oncology"): the field named just before it wins.
        spec = next((s for s in specs if any(re.search(rf"\b{re.escape(c)}\b", before) for c in s.cues)), specs[0])
        negated = bool(_NEGATION.search(before + " "))
        operator = "none_of" if negated else "any_of"
        if operator not in spec.operators:
            return
        text.take(start, end)
        # The field's cue right before the value goes too ("tagged oncology" leaves nothing behind).
        for cue in sorted(spec.cues, key=len, reverse=True):
            cue_match = re.search(
                rf"\b(?:not\s+|excluding\s+|except\s+)?{re.escape(cue)}(?:\s+(?:the|a|an))?\s*$", text.lower[:start]
            )
            if cue_match and text.free(cue_match.start(), start):
                text.take(cue_match.start(), start)
                break
        negation = _NEGATION.search(text.lower[:start] + " ")
        if negated and negation:
            text.take(negation.start(), start)
        _merge(found, spec.name, FieldFilter(**{operator: [value]}))


def _plural(value: str) -> str:
    """A pattern for the value and its plural ("cohort study" / "cohort studies", "meta-analysis" / "-analyses")."""
    escaped = re.escape(value)
    if value.endswith("y") and len(value) > 3:
        return escaped[:-1] + "(?:y|ies)"
    if value.endswith("is"):
        return escaped[:-2] + "(?:is|es)"
    return escaped + "(?:s|es)?"
