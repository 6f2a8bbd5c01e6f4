"""The self-query parser and the validation of LLM-extracted filters, against a declared schema."""

import json
from datetime import UTC, datetime

import jsonschema
import pytest

from services.gateway.self_query import SchemaField, SelfQueryParser, grounded, llm_task, validate_extracted

FIELDS = [
    SchemaField("year", "year", ("gte", "lte"), ("published",)),
    SchemaField("authors", "keywords", ("any_of", "none_of"), ("by",), ("Jane Smith", "Wei Chen")),
    SchemaField("journal", "keyword", ("any_of",), ("in", "journal"), ("Nature", "Cell")),
    SchemaField("topics", "keywords", ("any_of", "none_of"), ("tagged",), ("oncology", "genetics")),
    SchemaField("citations", "integer", ("gte", "lte"), ("citations",)),
]
PARSER = SelfQueryParser(today=datetime(2026, 11, 21, tzinfo=UTC))


@pytest.mark.parametrize(
    ("question", "filters", "query"),
    [
        (
            "papers from 2019 tagged oncology by Smith about hypoxia",
            {
                "year": {"gte": 2019, "lte": 2019},
                "topics": {"any_of": ["oncology"]},
                "authors": {"any_of": ["Jane Smith"]},
            },
            "about hypoxia",
        ),
        ("hypoxia since 2018", {"year": {"gte": 2018}}, "hypoxia"),
        ("hypoxia before 2018", {"year": {"lte": 2017}}, "hypoxia"),
        ("hypoxia between 2010 and 2012", {"year": {"gte": 2010, "lte": 2012}}, "hypoxia"),
        ("hypoxia in the last 2 years", {"year": {"gte": 2025}}, "hypoxia"),
        ("hypoxia with more than 10 citations", {"citations": {"gte": 11}}, "hypoxia"),
        ("hypoxia with 10 citations or fewer", {"citations": {"lte": 10}}, "hypoxia"),
        (
            "genetics not by Wei Chen",
            {"topics": {"any_of": ["genetics"]}, "authors": {"none_of": ["Wei Chen"]}},
            "genetics not by Wei Chen",
        ),
        # A proper-noun value in lower case counts only after the field's cue.
        ("what is the nature of hypoxia?", {}, "what is the nature of hypoxia?"),
        ("hypoxia in nature", {"journal": {"any_of": ["Nature"]}}, "hypoxia"),
        # none_of is not declared for journal: the exclusion is not read as a filter at all.
        ("hypoxia not in Cell", {}, "hypoxia not in Cell"),
        ("How do tumours grow?", {}, "How do tumours grow?"),
    ],
)
def test_the_parser_reads_declared_fields_only(question, filters, query):
    found, _ = PARSER.parse(question, FIELDS)
    assert found.as_dict() == filters
    if filters:
        assert found.query.lower().startswith(query.split()[0].lower())
    else:
        assert found.query == question


def test_a_field_named_but_not_resolved_is_left_for_the_llm():
    found, unresolved = PARSER.parse("hypoxia papers by Someone Famous", FIELDS)
    assert found.as_dict() == {} and [f.name for f in unresolved] == ["authors"]


def test_llm_output_is_kept_only_where_the_schema_allows_it():
    raw = {
        "authors": {"any_of": ["jane smith", "Nobody Known"]},
        "journal": {"none_of": ["Nature"]},
        "year": {"gte": 20190},
        "citations": {"gte": 5, "lte": 50},
        "colour": {"any_of": ["red"]},
        "topics": "oncology",
    }
    kept = validate_extracted(raw, FIELDS)
    assert {name: f.as_dict() for name, f in kept.items()} == {
        "authors": {"any_of": ["Jane Smith"]},
        "citations": {"gte": 5, "lte": 50},
    }
    assert validate_extracted(["not", "an", "object"], FIELDS) == {}


@pytest.mark.parametrize(
    ("question", "unresolved"),
    [
        # A bound with no field the parser knows: every numeric field is a candidate.
        ("hypoxia cited at least 25 times", ["citations"]),
        # An abbreviation: keyword fields with known values are candidates.
        ("hypoxia papers in NEJM", ["journal", "authors", "topics"]),
        ("hypoxia papers from 2019 in Nature", []),
        ("How do tumours grow?", []),
    ],
)
def test_what_the_parser_leaves_to_the_llm(question, unresolved):
    _, left = PARSER.parse(question, FIELDS)
    assert [f.name for f in left] == unresolved


def test_the_llm_task_offers_only_the_fields_asked_and_its_examples_fit_its_schema():
    fields = [f for f in FIELDS if f.name in ("journal", "citations")]
    task = llm_task(fields)
    jsonschema.Draft202012Validator.check_schema(task.schema)
    assert set(task.schema["properties"]) == {"journal", "citations"}
    assert task.schema["properties"]["journal"]["properties"]["any_of"]["items"] == {"enum": ["Nature", "Cell"]}
    # journal declares no none_of: the model cannot even write one.
    assert "none_of" not in task.schema["properties"]["journal"]["properties"]
    assert "Nature, Cell" in task.instruction and "year" not in task.instruction
    for _, answer in task.examples:
        jsonschema.validate(json.loads(answer), task.schema)
    assert json.loads(task.examples[0][1]) == {}


def test_llm_values_the_question_does_not_show_are_dropped():
    extracted = validate_extracted(
        {
            "journal": {"any_of": ["Nature"]},
            "authors": {"any_of": ["Wei Chen", "Jane Smith"]},
            "citations": {"gte": 26},
            "topics": {"none_of": ["genetics"]},
        },
        FIELDS,
    )
    kept = grounded(extracted, "CRISPR papers by Smith cited at least 25 times, no genetics")
    # Smith is shown (a word of the value), genetics too, 26 is one off 25; Nature and Wei Chen are not.
    assert {name: f.as_dict() for name, f in kept.items()} == {
        "authors": {"any_of": ["Jane Smith"]},
        "citations": {"gte": 26},
        "topics": {"none_of": ["genetics"]},
    }
    journals = [*FIELDS, SchemaField("venue", "keyword", ("any_of",), (), ("New England Journal of Medicine",))]
    abbreviated = validate_extracted({"venue": {"any_of": ["New England Journal of Medicine"]}}, journals)
    assert grounded(abbreviated, "NEJM studies on cardiology")["venue"].any_of == ["New England Journal of Medicine"]
    assert grounded(validate_extracted({"citations": {"gte": 50}}, FIELDS), "How do tumours grow?") == {}
