"""POST /v1/batch/search and /v1/batch/query: items answered as their single requests are, in the order sent, their
texts embedded in one call; a bad item fails alone; the batch counts as one request per item against the limits."""

import pytest

from tests.conftest import MOCK_ANSWER
from tests.servers import gateway

KEY = {"X-API-Key": "key-batch"}
MANUALS = {
    "kestrel.md": b"# Kestrel handbook\n\n## Key rotation\n\nKestrel API keys must be rotated every 45 days by the "
    b"security team. Old keys stop working 24 hours after rotation.\n",
    "osprey.md": b"# Osprey pump manual\n\n## Filters\n\nThe Osprey pump's intake filter is replaced every 600 hours "
    b"of running, or sooner when the flow drops below 40 litres a minute.\n",
}
SEARCHES = ["How often are Kestrel API keys rotated?", "When is the Osprey intake filter replaced?"]


@pytest.fixture(scope="module")
async def api(suite):
    settings = suite.gateway_settings(
        api_keys={"key-batch": "batch-tenant"},
        rate_limits={},
        batch_max_items=4,
    )
    async with gateway(settings) as client:
        for name, body in MANUALS.items():
            reply = await client.post("/v1/documents", headers=KEY, files={"file": (name, body, "text/markdown")})
            assert reply.status_code == 201, reply.text
        yield client


async def test_a_batch_of_searches_answers_each_as_its_single_search_would(api):
    reply = await api.post(
        "/v1/batch/search", headers=KEY, json={"requests": [{"query": q, "top_k": 3} for q in SEARCHES]}
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    # Both texts were embedded in one call of the batch; no item embedded on its own.
    assert body["batch"] == {**body["batch"], "items": 2, "failed": 0, "embedded": 2}
    assert "embed" in body["batch"]["timings_ms"]
    for i, (result, query) in enumerate(zip(body["results"], SEARCHES, strict=True)):
        assert result["index"] == i and result["error"] is None
        assert "embed" not in result["response"]["timings_ms"]
        assert result["response"]["answer_id"].startswith("ans_")
        single = (await api.post("/v1/search", headers=KEY, json={"query": query, "top_k": 3})).json()
        assert [h["document_id"] for h in result["response"]["hits"]] == [h["document_id"] for h in single["hits"]]
        assert [h["score"] for h in result["response"]["hits"]] == pytest.approx([h["score"] for h in single["hits"]])
    assert body["results"][0]["response"]["hits"][0]["title"].startswith("Kestrel")
    assert body["results"][1]["response"]["hits"][0]["title"].startswith("Osprey")


async def test_a_bad_item_fails_alone_with_the_status_its_single_request_would_get(api):
    requests = [{"query": SEARCHES[0]}, {"query": "   "}, {"query": "x" * 5000}, {"query": SEARCHES[1]}]
    body = (await api.post("/v1/batch/search", headers=KEY, json={"requests": requests})).json()
    assert [r["error"]["status"] if r["error"] else 200 for r in body["results"]] == [200, 422, 422, 200]
    assert "empty" in body["results"][1]["error"]["detail"] and body["results"][1]["response"] is None
    assert body["batch"]["failed"] == 2 and body["batch"]["embedded"] == 2


async def test_a_batch_of_questions_answers_each_with_citations(api):
    requests = [{"question": q} for q in SEARCHES] + [{"question": SEARCHES[0], "generate": False}]
    reply = await api.post("/v1/batch/query", headers=KEY, json={"requests": requests})
    assert reply.status_code == 200, reply.text
    results = [r["response"] for r in reply.json()["results"]]
    assert [r["answer"] for r in results] == [MOCK_ANSWER, MOCK_ANSWER, ""]
    assert results[0]["citations"][0]["title"].startswith("Kestrel")
    assert results[1]["citations"][0]["title"].startswith("Osprey")
    assert len({r["answer_id"] for r in results}) == 3


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/v1/batch/search", {"requests": []}, "requests"),
        ("/v1/batch/search", {"requests": [{"query": "a"}] * 5}, "1 to 4 items"),
        ("/v1/batch/query", {"requests": [{"question": "a", "stream": True}]}, "requests[0].stream"),
        ("/v1/batch/query", {"requests": [{"question": "a", "colour": "red"}]}, "colour"),
    ],
)
async def test_a_batch_that_cannot_run_is_refused_whole(api, path, body, reason):
    reply = await api.post(path, headers=KEY, json=body)
    assert reply.status_code == 422 and reason in reply.json()["detail"]


async def test_each_item_counts_against_the_rate_limits(api):
    limits = {"search": ["5/minute"]}
    created = await api.post(
        "/v1/admin/keys", headers=KEY, json={"name": "tight", "scopes": ["query"], "rate_limits": limits}
    )
    assert created.status_code == 201, created.text
    tight = {"X-API-Key": created.json()["key"]}
    refused = await api.post(
        "/v1/batch/search", headers=tight, json={"requests": [{"query": "a"}] * 5 + [{"query": "b"}]}
    )
    assert refused.status_code == 422  # over batch_max_items: refused before it counts
    first = await api.post("/v1/batch/search", headers=tight, json={"requests": [{"query": q} for q in SEARCHES * 2]})
    assert first.status_code == 200 and first.headers["RateLimit-Remaining"] == "1"
    second = await api.post("/v1/batch/search", headers=tight, json={"requests": [{"query": q} for q in SEARCHES]})
    assert second.status_code == 429 and "(2 asked at once)" in second.json()["detail"]
    assert (await api.post("/v1/search", headers=tight, json={"query": SEARCHES[0]})).status_code == 200
