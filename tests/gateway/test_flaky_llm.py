"""A model provider that fails 30% of its calls: a real LLMock server (provider-shaped 503s at random) behind the
real generator and gateway. Every question is answered (a provider failure after LiteLLM's one retry degrades to
cited passages, never a 500), no failure multiplies into more provider calls than LiteLLM's own retry, and the
generator's breaker stays closed (failures are scattered, not consecutive)."""

import pytest
from llmock.chaos import ChaosSettings
from llmock.testing import LLMockServer

from services.generator.config import GeneratorSettings
from services.generator.server import create_server as create_generator
from tests.servers import gateway, running

KEY = {"X-API-Key": "key-flaky"}
FACTS = [
    ("Velkor", "copper", "1871"),
    ("Ammerlin", "salt", "1902"),
    ("Dunmoth", "tin", "1788"),
    ("Quessel", "amber", "1833"),
    ("Toravik", "cod", "1925"),
]


@pytest.fixture(scope="module")
def provider():
    with LLMockServer(chaos=ChaosSettings(error_rate_503=0.3)) as server:
        yield server


async def test_a_provider_failing_30_percent_of_calls_never_fails_a_question(suite, provider):
    settings = GeneratorSettings(
        model="openai/flaky-model", api_base=provider.base_url("openai"), api_key="test", num_retries=1
    )
    async with (
        running(create_generator(settings)) as generator,
        gateway(
            suite.gateway_settings(
                api_keys={"key-flaky": "flaky"}, generator_target=generator, semantic_cache_threshold=1.0
            )
        ) as api,
    ):
        for town, trade, year in FACTS:
            body = f"# {town}\n\nThe town of {town} grew rich on {trade} after its harbour opened in {year}.\n"
            reply = await api.post("/v1/documents", headers=KEY, files={"file": (f"{town}.md", body, "text/markdown")})
            assert reply.status_code in (200, 201), reply.text
        provider.state.journal.clear()
        answers = []
        for i in range(40):
            town, trade, _ = FACTS[i % len(FACTS)]
            question = f"What trade made {town} rich, question {i}?" if i % 2 else f"When did {town} open harbour {i}?"
            reply = await api.post("/v1/query", headers=KEY, json={"question": question})
            assert reply.status_code == 200, reply.text
            answers.append(reply.json())
        calls = [r for r in provider.state.journal.records(wait=2) if r.path.endswith("/chat/completions")]
        failed = sum(1 for call in calls if call.status == 503)
        degraded = [a for a in answers if a["degraded"]]
        # The provider really failed about 30% of its calls...
        assert 0.1 <= failed / len(calls) <= 0.55, (failed, len(calls))
        # ...each question cost at most two of them (LiteLLM's retry; the gateway never retries a generation)...
        assert len(answers) <= len(calls) <= 2 * len(answers)
        # ...a question whose two tries both failed came back degraded, with its passages cited...
        assert len(degraded) == failed - (len(calls) - len(answers))
        assert all(a["citations"] and a["answer"] for a in degraded)
        assert all(a["answer"] and a["usage"]["model_calls"] >= 1 for a in answers if not a["degraded"])
        # ...and scattered failures never opened the generator's breaker.
        status = (await api.get("/v1/admin/status", headers=KEY)).json()
        assert status["breakers"]["generator"] == "closed"
