"""POST /v1/verify: a claim checked against the tenant's documents. The verdict comes from the generator's
Extract; a paid model's answer is LiteLLM's mock_response, the local model's is in tests/test_local_llm.py."""

import json

import httpx
import jsonschema
import pytest

from services.gateway.query.verify import EXAMPLES, verdict_schema
from services.generator.config import GeneratorSettings
from services.generator.server import create_server as create_generator
from tests.conftest import CLAIMS
from tests.servers import gateway, running

DOCS = {
    "vitamin-d.txt": "Vitamin D supplements raised bone mineral density in women over sixty in a two-year trial.",
    "coffee.txt": "Coffee drinkers in the cohort had fewer liver enzyme results outside the normal range.",
}
CLAIM = "Vitamin D supplements increase bone density in older women."


@pytest.fixture(scope="module")
async def claims(api: httpx.AsyncClient) -> dict[str, str]:
    ids = {}
    for name, text in DOCS.items():
        reply = await api.post("/v1/documents", headers=CLAIMS, files={"file": (name, text.encode(), "text/plain")})
        assert reply.status_code in (200, 201), reply.text
        ids[name] = reply.json()["document_id"]
    return ids


async def _verify(api: httpx.AsyncClient, claim: str, **options: object) -> httpx.Response:
    return await api.post("/v1/verify", headers=CLAIMS, json={"claim": claim, **options})


async def test_a_supported_claim_cites_the_passage_that_decides_it(suite, claims):
    # The model answers SUPPORT and names passage 1, which retrieval ranks first: the vitamin D abstract.
    model = GeneratorSettings(mock_response='{"verdict": "SUPPORT", "evidence": [1]}')
    async with (
        running(create_generator(model)) as target,
        gateway(suite.gateway_settings(generator_target=target)) as g,
    ):
        reply = await _verify(g, CLAIM, self_query=False)
    body = reply.json()
    assert reply.status_code == 200 and body["verdict"] == "SUPPORT" and body["degraded"] is False
    cited = [c for c in body["citations"] if c["cited"]]
    assert [c["document_id"] for c in cited] == [claims["vitamin-d.txt"]]
    assert body["model"] == "text-completion-openai/gemma-3-270m" and body["usage"]["completion_tokens"] > 0
    assert body["usage"]["model_calls"] == 1
    assert "generate" in body["timings_ms"] and body["no_context"] is False


async def test_a_passage_number_that_was_not_shown_is_refused_and_the_check_degrades(suite, claims):
    model = GeneratorSettings(mock_response='{"verdict": "SUPPORT", "evidence": [9]}')
    async with (
        running(create_generator(model)) as target,
        gateway(suite.gateway_settings(generator_target=target)) as g,
    ):
        reply = await _verify(g, CLAIM, self_query=False)
    body = reply.json()
    assert reply.status_code == 200 and body["degraded"] is True and body["verdict"] is None
    assert body["citations"] and not any(c["cited"] for c in body["citations"])


async def test_a_claim_nothing_bears_on_is_not_enough_info_without_a_model_call(api, claims):
    reply = await _verify(api, "The Treaty of Westphalia was signed in a lighthouse.")
    body = reply.json()
    assert reply.status_code == 200 and body["verdict"] == "NOT_ENOUGH_INFO" and body["no_context"] is True
    assert body["model"] == "" and "generate" not in body["timings_ms"] and body["citations"] == []


async def test_a_model_that_writes_prose_degrades_to_retrieval_only(api, claims):
    # The suite's generator answers in prose: no JSON, so no verdict, but the evidence is still returned.
    body = (await _verify(api, CLAIM)).json()
    assert body["degraded"] is True and body["verdict"] is None and body["citations"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"claim": "   "}, "question is empty"),
        ({"claim": "x", "top_k": 0}, "top_k"),
        ({"claim": "x", "filters": {"colour": "red"}}, "unknown filter field 'colour'"),
    ],
)
async def test_bad_claims_are_422(api, body, detail):
    reply = await api.post("/v1/verify", headers=CLAIMS, json=body)
    assert reply.status_code == 422 and detail in reply.text


def test_the_worked_examples_fit_the_verdict_schema():
    for _, answer in EXAMPLES:
        jsonschema.validate(answer, verdict_schema(2))
    assert verdict_schema(3)["properties"]["evidence"]["items"] == {"enum": [1, 2, 3]}
    assert json.dumps(verdict_schema(0))
