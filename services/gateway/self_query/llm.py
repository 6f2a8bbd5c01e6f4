"""The LLM half of self-query: the task the generator's Extract is given for the fields the parser could not
fill, and the checks its answer passes (the schema, then the question itself) before any of it is used."""

import json
import re
from dataclasses import dataclass

from services.gateway.self_query.fields import FieldFilter, FilterError, SchemaField, check_filter

# Keyword values the LLM may choose from (grammar and prompt); beyond this, values are only checked afterwards.
MAX_LLM_VALUES = 100
MAX_PROMPT_VALUES = 30


def validate_extracted(raw: object, fields: list[SchemaField]) -> dict[str, FieldFilter]:
    """An LLM's JSON answer, kept only where it fits the schema: declared fields and operators, values of the
    right type, keyword values that documents actually carry. Everything else is dropped, never sent."""
    if not isinstance(raw, dict):
        return {}
    declared = {spec.name: spec for spec in fields}
    kept: dict[str, FieldFilter] = {}
    for name, wanted in raw.items():
        spec = declared.get(name)
        if spec is None or not isinstance(wanted, dict):
            continue
        candidate = FieldFilter()
        if spec.numeric:
            for bound in ("gte", "lte"):
                value = wanted.get(bound)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    setattr(candidate, bound, float(value))
            if spec.type == "year" and any(
                v is not None and not 1000 <= v <= 9999 for v in (candidate.gte, candidate.lte)
            ):
                continue
        else:
            known = {v.lower(): v for v in spec.values}
            for operator in ("any_of", "none_of"):
                values = wanted.get(operator) or []
                values = [values] if isinstance(values, str) else values
                if isinstance(values, list):
                    setattr(
                        candidate,
                        operator,
                        [known[v.lower()] for v in values if isinstance(v, str) and v.lower() in known],
                    )
        try:
            check_filter(spec, candidate)
        except FilterError:
            continue
        kept[name] = candidate
    return kept


def grounded(found: dict[str, FieldFilter], question: str) -> dict[str, FieldFilter]:
    """What an LLM extracted, kept only where the question shows it: a number it wrote, a value whose word
    (4+ letters) or initials ("NEJM") it contains. A small model fills fields nobody asked for; this drops them."""
    lower = question.lower()
    words = set(re.findall(r"[a-z0-9]+", lower))
    numbers = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", question)}
    acronyms = set(re.findall(r"\b[A-Z][A-Z&]{1,6}\b", question))

    def shown(value: str) -> bool:
        parts = re.findall(r"[A-Za-z0-9]+", value)
        initials = {"".join(p[0] for p in parts).upper(), "".join(p[0] for p in parts if p[0].isupper())}
        return (
            value.lower() in lower
            or any(len(p) >= 4 and p.lower() in words for p in parts)
            or bool(acronyms & initials)
        )

    kept: dict[str, FieldFilter] = {}
    for name, wanted in found.items():
        # An integer bound may be one off the number written ("more than 10" is gte 11).
        bounds = [b for b in (wanted.gte, wanted.lte) if b is not None]
        if bounds and not all(any(abs(b - n) <= 1 for n in numbers) for b in bounds):
            continue
        candidate = FieldFilter(
            any_of=[v for v in wanted.any_of if shown(v)],
            none_of=[v for v in wanted.none_of if shown(v)],
            gte=wanted.gte,
            lte=wanted.lte,
        )
        if candidate.as_dict():
            kept[name] = candidate
    return kept


@dataclass(frozen=True)
class LLMTask:
    """What the generator's Extract is asked for the fields the parser could not fill."""

    instruction: str
    schema: dict
    examples: list[tuple[str, str]]


def llm_task(fields: list[SchemaField]) -> LLMTask:
    """Instruction, JSON Schema and worked examples for an LLM that fills only `fields`. Keyword values are an
    enum (a grammar-held local model cannot write anything else); an empty object means "no filter"."""
    properties: dict[str, dict] = {}
    lines = []
    for spec in fields:
        ops = list(spec.operators)
        if spec.numeric:
            bounds = {
                op: {"type": "integer" if spec.type != "number" else "number"} for op in ("gte", "lte") if op in ops
            }
            if not bounds:
                continue
            properties[spec.name] = {"type": "object", "properties": bounds, "additionalProperties": False}
            values = ""
        else:
            if not spec.values:
                continue
            items: dict = {"enum": list(spec.values)} if len(spec.values) <= MAX_LLM_VALUES else {"type": "string"}
            lists = {op: {"type": "array", "items": items, "maxItems": 5} for op in ("any_of", "none_of") if op in ops}
            if not lists:
                continue
            properties[spec.name] = {"type": "object", "properties": lists, "additionalProperties": False}
            values = "; values: " + ", ".join(spec.values[:MAX_PROMPT_VALUES])
        cues = ", ".join(spec.cues)
        lines.append(
            f"- {spec.name} ({spec.type}, {'/'.join(ops)}): {spec.description or spec.name}; named by: {cues}{values}"
        )
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    instruction = (
        "Read the question and write the metadata filters it asks for, as JSON, on these fields only:\n"
        + "\n".join(lines)
        + '\nUse gte/lte for bounds ("at least 10" is gte 10, "more than 10" is gte 11), any_of for values '
        "wanted and none_of for values excluded. Write {} when the question asks for no filter on these fields."
    )
    examples = [("How do the methods compare?", "{}")]
    for name, prop in properties.items():
        spec = next(f for f in fields if f.name == name)
        if "gte" in prop["properties"]:
            examples.append((f"work with at least 3 {spec.cues[0]}", json.dumps({name: {"gte": 3}})))
        elif "any_of" in prop["properties"]:
            examples.append((f"{spec.cues[0]} {spec.values[0]}", json.dumps({name: {"any_of": [spec.values[0]]}})))
        if len(examples) >= 3:
            break
    return LLMTask(instruction=instruction, schema=schema, examples=examples)
