"""Declared metadata through the public API: the schema, documents carrying attributes, filters on them, and
self-query reading those filters out of the question."""

import json

import httpx
import pytest

from services.generator.config import GeneratorSettings
from services.generator.server import create_server as create_generator
from tests.conftest import PAPERS
from tests.servers import gateway, running

SCHEMA = {
    "fields": [
        {"name": "year", "type": "year", "aliases": ["published"]},
        {"name": "authors", "type": "keywords", "aliases": ["by", "written by"]},
        {"name": "journal", "type": "keyword", "aliases": ["in", "journal"], "values": ["BMJ"]},
        {"name": "citations", "type": "integer"},
    ]
}
PAPERS_DOCS = {
    "mice": ("Tumour growth slows in mice fed a fasting-mimicking diet.", 2015, ["Jane Smith"], "Cell", 40),
    "zebrafish": (
        "Tumour growth in zebrafish depends on local oxygen.",
        2019,
        ["Jane Smith", "Wei Chen"],
        "Nature",
        120,
    ),
    "organoids": ("Tumour growth in organoids follows the donor's genotype.", 2021, ["Lars Lindqvist"], "Nature", 8),
}


@pytest.fixture(scope="module")
async def papers(api: httpx.AsyncClient):
    reply = await api.put("/v1/metadata-schema", headers=PAPERS, json=SCHEMA)
    assert reply.status_code == 200, reply.text
    for name, (text, year, authors, journal, citations) in PAPERS_DOCS.items():
        attributes = {"year": year, "authors": authors, "journal": journal, "citations": citations}
        reply = await api.post(
            "/v1/documents",
            headers=PAPERS,
            files={"file": (f"{name}.txt", text.encode(), "text/plain")},
            data={"document_id": name, "attributes": json.dumps(attributes)},
        )
        assert reply.status_code in (200, 201), reply.text
    return PAPERS_DOCS


async def _found(api: httpx.AsyncClient, body: dict) -> tuple[set[str], dict]:
    reply = await api.post("/v1/search", headers=PAPERS, json={"top_k": 10, **body})
    assert reply.status_code == 200, reply.text
    result = reply.json()
    return {hit["document_id"] for hit in result["hits"]}, result


async def test_the_schema_lists_declared_and_carried_values(api, papers):
    schema = (await api.get("/v1/metadata-schema", headers=PAPERS)).json()
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["year"]["operators"] == ["gte", "lte"] and fields["journal"]["operators"] == ["any_of", "none_of"]
    assert set(fields["journal"]["values"]) == {"BMJ", "Cell", "Nature"}
    assert set(fields["authors"]["values"]) == {"Jane Smith", "Wei Chen", "Lars Lindqvist"}
    document = (await api.get("/v1/documents/zebrafish", headers=PAPERS)).json()
    assert document["metadata"]["attributes"] == {
        "year": 2019,
        "authors": ["Jane Smith", "Wei Chen"],
        "journal": "Nature",
        "citations": 120,
    }


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"year": {"gte": 2016}}, {"zebrafish", "organoids"}),
        ({"year": 2015}, {"mice"}),
        ({"authors": "Jane Smith"}, {"mice", "zebrafish"}),
        ({"journal": {"none_of": ["Nature"]}}, {"mice"}),
        ({"citations": {"gte": 10, "lte": 100}}, {"mice"}),
    ],
)
async def test_explicit_attribute_filters(api, papers, filters, expected):
    found, result = await _found(api, {"query": "tumour growth", "filters": filters, "self_query": False})
    assert found == expected
    assert result["self_query"] is None and set(result["filters_applied"]) == set(filters)


@pytest.mark.parametrize(
    ("query", "expected", "applied"),
    [
        ("tumour growth in papers from 2019", {"zebrafish"}, {"year": {"gte": 2019, "lte": 2019}}),
        (
            "tumour growth studies by Smith published before 2020",
            {"mice", "zebrafish"},
            {"authors": {"any_of": ["Jane Smith"]}, "year": {"lte": 2019}},
        ),
        (
            "tumour growth in Nature not by Lindqvist",
            {"zebrafish"},
            {"journal": {"any_of": ["Nature"]}, "authors": {"none_of": ["Lars Lindqvist"]}},
        ),
        ("tumour growth with more than 100 citations", {"zebrafish"}, {"citations": {"gte": 101}}),
    ],
)
async def test_self_query_reads_filters_from_the_question(api, papers, query, expected, applied):
    found, result = await _found(api, {"query": query})
    assert found == expected
    assert result["self_query"]["filters"] == applied and result["filters_applied"] == applied
    assert result["self_query"]["method"] == "parser" and "tumour growth" in result["self_query"]["query"]


async def test_self_query_can_be_turned_off_and_given_filters_win(api, papers):
    found, result = await _found(api, {"query": "tumour growth in papers from 2019", "self_query": False})
    assert found == set(PAPERS_DOCS) and result["filters_applied"] == {}
    found, result = await _found(api, {"query": "tumour growth from 2019", "filters": {"year": {"gte": 2020}}})
    assert found == {"organoids"} and result["filters_applied"] == {"year": {"gte": 2020}}


async def test_the_answer_reports_the_filter_it_used(api, papers):
    reply = await api.post(
        "/v1/query", headers=PAPERS, json={"question": "How does tumour growth behave in papers from 2021?"}
    )
    body = reply.json()
    assert body["filters_applied"] == {"year": {"gte": 2021, "lte": 2021}}
    assert {c["document_id"] for c in body["citations"]} == {"organoids"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"filters": {"colour": "red"}}, "unknown filter field 'colour'; filterable fields are: document_id"),
        ({"filters": {"year": "recent"}}, "'year' is a year: filter it with a number, gte or lte"),
        ({"filters": {"journal": {"gte": 3}}}, "field 'journal' (keyword) allows any_of, none_of, not gte"),
        ({"filters": {"year": {"gte": 2020, "lte": 2010}}}, "gte 2020.0 is above lte 2010.0"),
        ({"filters": {"source": {"gte": 1}}}, "gte/lte apply to numeric attributes only"),
    ],
)
async def test_filters_outside_the_schema_are_422(api, papers, body, detail):
    reply = await api.post("/v1/search", headers=PAPERS, json={"query": "tumour", **body})
    assert reply.status_code == 422 and detail in reply.json()["detail"]


@pytest.mark.parametrize(
    ("attributes", "detail"),
    [
        ("{not json", "attributes is not valid JSON"),
        ("[1, 2]", "attributes must be a JSON object"),
        ('{"colour": "red"}', "attribute 'colour' is not in the metadata schema"),
        ('{"year": "2019"}', "attribute 'year' must be a number (year)"),
    ],
)
async def test_documents_with_bad_attributes_are_422_and_nothing_changes(api, papers, attributes, detail):
    reply = await api.post(
        "/v1/documents",
        headers=PAPERS,
        files={"file": ("mice.txt", b"Replaced text.", "text/plain")},
        data={"document_id": "mice", "attributes": attributes},
    )
    assert reply.status_code == 422 and detail in reply.json()["detail"]
    kept = (await api.get("/v1/documents/mice", headers=PAPERS)).json()
    assert kept["metadata"]["attributes"]["year"] == 2015


async def test_a_schema_change_that_strands_attributes_is_422(api, papers):
    reply = await api.put("/v1/metadata-schema", headers=PAPERS, json={"fields": [{"name": "year", "type": "keyword"}]})
    assert reply.status_code == 422 and "field 'year' cannot change type to keyword" in reply.json()["detail"]
    reply = await api.put(
        "/v1/metadata-schema", headers=PAPERS, json={"fields": [{"name": "Bad Name", "type": "year"}]}
    )
    assert reply.status_code == 422


async def test_the_llm_fills_only_what_the_parser_could_not_and_only_within_the_schema(api, suite, papers):
    question = "tumour growth cited at least 50 times"
    # The suite's generator writes prose, not JSON: the LLM path fails and the parser's (empty) result stands.
    found, result = await _found(api, {"query": question})
    assert found == set(PAPERS_DOCS) and result["filters_applied"] == {} and result["self_query"] is None
    # A model that answers with JSON (LiteLLM's mock for the paid-API boundary).
    llm = GeneratorSettings(mock_response='{"citations": {"gte": 50}}')
    async with running(create_generator(llm)) as target, gateway(suite.gateway_settings(generator_target=target)) as g:
        found, result = await _found(g, {"query": question})
        assert found == {"zebrafish"} and result["filters_applied"] == {"citations": {"gte": 50}}
        assert result["self_query"]["method"] == "parser+llm" and "self_query_llm" in result["timings_ms"]
        # The self-query call is the search's one model call, and is reported.
        assert result["usage"]["model_calls"] == 1 and result["usage"]["completion_tokens"] > 0
        # The parser already read every field this question names: no LLM call, the parser's filter stands.
        found, result = await _found(g, {"query": "tumour growth with more than 100 citations"})
        assert result["self_query"]["method"] == "parser" and "self_query_llm" not in result["timings_ms"]
        assert result["usage"]["model_calls"] == 0
        # The caller can keep the LLM out of it (latency): the parser alone.
        found, result = await _found(g, {"query": question, "self_query_llm": False})
        assert result["filters_applied"] == {} and "self_query_llm" not in result["timings_ms"]
        # Turned off by the caller: neither parser nor LLM.
        found, result = await _found(g, {"query": question, "self_query": False})
        assert found == set(PAPERS_DOCS) and result["filters_applied"] == {}
    # An answer off the schema (a journal nobody carries) never reaches Qdrant: the generator refuses it.
    llm = GeneratorSettings(mock_response='{"citations": {"gte": 50}, "journal": {"any_of": ["Lancet"]}}')
    async with running(create_generator(llm)) as target, gateway(suite.gateway_settings(generator_target=target)) as g:
        found, result = await _found(g, {"query": question})
        assert found == set(PAPERS_DOCS) and result["filters_applied"] == {}
