"""The query path's pure modules, without FastAPI, Redis or any server: questions, filters, citations, timing."""

import time

import pytest

from ragmesh.retriever.v1 import retriever_pb2
from services.gateway.models import FilterValues
from services.gateway.query.citations import ambiguous, citations, confidence, quote, support
from services.gateway.query.context import Passage, Sentence
from services.gateway.query.filters import BUILTIN_FILTERS, explicit_filters, needs_schema, to_retriever_filter
from services.gateway.query.questions import clean_question
from services.gateway.query.timing import timed
from services.gateway.self_query import SchemaField
from services.runtime.errors import InvalidArgument

YEAR = SchemaField(name="year", type="year", operators=("gte", "lte"))
TOPICS = SchemaField(name="topics", type="keywords", operators=("any_of", "none_of"), values=("oncology",))


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [("  What\tis\nit? ", "What is it?"), ("a\x00b\u200bc", "abc"), ("é ü 中文", "é ü 中文")],
)
def test_questions_lose_control_characters(raw, cleaned):
    assert clean_question(raw, 100) == cleaned


@pytest.mark.parametrize(("raw", "reason"), [("\x00\x07 ", "empty"), ("x" * 11, "limit is 10")])
def test_bad_questions_are_invalid_arguments(raw, reason):
    with pytest.raises(InvalidArgument, match=reason):
        clean_question(raw, 10)


def test_filters_are_checked_against_builtins_and_the_schema():
    checked = explicit_filters(
        {"tags": ["a", "b"], "year": FilterValues(gte=2019), "topics": FilterValues(none_of=["oncology"])},
        [YEAR, TOPICS],
    )
    assert checked["tags"].any_of == ["a", "b"] and checked["year"].gte == 2019
    message = to_retriever_filter(checked)
    fields = {c.field: c for c in message.must}
    assert set(fields) == {"tags", "attributes.year", "attributes.topics"}
    assert fields["attributes.year"].gte == 2019 and not fields["attributes.year"].HasField("lte")
    assert needs_schema({"year": 2019}) and not needs_schema({name: "x" for name in BUILTIN_FILTERS})


@pytest.mark.parametrize(
    ("filters", "reason"),
    [
        ({"colour": "red"}, "unknown filter field 'colour'"),
        ({"tags": FilterValues(gte=1)}, "numeric attributes only"),
        ({"tags": []}, "has no values"),
        ({"year": "2019"}, "filter it with a number"),
        ({"year": FilterValues(gte=2020, lte=2010)}, "above lte"),
    ],
)
def test_bad_filters_say_what_is_wrong(filters, reason):
    with pytest.raises(InvalidArgument, match=reason):
        explicit_filters(filters, [YEAR, TOPICS])


def _passage(document_id: str, *texts: str, similarity: float = 0.5) -> Passage:
    sentences, offset = [], 0
    for text in texts:
        sentences.append(Sentence(text, offset, offset + len(text)))
        offset += len(text) + 1
    return Passage(document_id, document_id.title(), "src", [], "s0", 0, similarity, sentences)


def test_citations_follow_markers_or_support_and_never_lose_sources():
    passages = [_passage("ferry", "The ferry leaves at 07:15."), _passage("owls", "Owls nest in spring.")]
    marked = citations(passages, "When does the ferry leave?", "It leaves at 07:15 [1].")
    assert [(c.index, c.cited) for c in marked] == [(1, True)]
    unmarked = citations(passages, "When do owls nest?", "Owls nest in spring.")
    assert [(c.document_id, c.cited) for c in unmarked] == [("owls", True)]
    none = citations(passages, "Anything?", "Something unrelated entirely.")
    assert [c.cited for c in none] == [False, False]
    assert support("ferry leaves 07:15", "The ferry leaves at 07:15.") == 1.0
    assert quote(passages[0], "ferry") == "The ferry leaves at 07:15."


def _hit(document_id: str, similarity: float) -> retriever_pb2.Hit:
    return retriever_pb2.Hit(chunk=retriever_pb2.Chunk(document_id=document_id), dense_similarity=similarity)


def test_confidence_and_ambiguity():
    assert confidence(0.30, 0.30, 0.70) == 0.0 and confidence(0.70, 0.30, 0.70) == 1.0
    assert confidence(0.50, 0.30, 0.70) == 0.5 and confidence(0.9, 0.3, 0.7) == 1.0
    assert ambiguous([_hit("a", 0.45), _hit("b", 0.44)], confident=0.7, margin=0.02)
    assert not ambiguous([_hit("a", 0.45), _hit("a", 0.44)], confident=0.7, margin=0.02)
    assert not ambiguous([_hit("a", 0.80), _hit("b", 0.79)], confident=0.7, margin=0.02)


def test_timed_records_success_and_optionally_failure():
    timings: dict[str, float] = {}
    with timed(timings, "ok"):
        time.sleep(0.01)
    assert timings["ok"] >= 10
    with pytest.raises(RuntimeError), timed(timings, "failed"):
        raise RuntimeError
    assert "failed" not in timings
    with pytest.raises(RuntimeError), timed(timings, "counted", failed_too=True):
        raise RuntimeError
    assert "counted" in timings
