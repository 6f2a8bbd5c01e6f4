"""The OpenAI-compatible API with the official `openai` client: models are the gateway's profiles; a completion, and
a stream, answer from the tenant's documents and keep their citations (on the message, and on the stream's last
chunk before [DONE]); the gateway's keys, scopes and errors apply."""

import numpy as np
import openai
import pytest

from services.gateway.config import GatewaySettings
from services.generator.config import GeneratorSettings
from services.generator.server import create_server as create_generator
from tests.conftest import MOCK_ANSWER
from tests.servers import gateway, running

KEY = "key-openai"
HANDBOOK = (
    b"# Kestrel security handbook\n\n## Key rotation\n\nAPI keys for the Kestrel platform must be rotated every 45 "
    b"days by the security team. Old keys stop working 24 hours after rotation.\n"
)
QUESTION = "How often must Kestrel API keys be rotated?"


@pytest.fixture(scope="module")
async def client(suite):
    async with gateway(suite.gateway_settings(api_keys={KEY: "openai-tenant"}, rate_limits={})) as api:
        uploaded = await api.post(
            "/v1/documents", headers={"X-API-Key": KEY}, files={"file": ("kestrel.md", HANDBOOK, "text/markdown")}
        )
        assert uploaded.status_code == 201, uploaded.text
        yield openai.AsyncOpenAI(base_url=f"{api.base_url}/v1", api_key=KEY, max_retries=0)


async def test_models_are_the_gateways_profiles(client):
    models = sorted(model.id for model in (await client.models.list()).data)
    assert models == ["ragmesh", "ragmesh-embed", "ragmesh-retrieval"]


async def test_a_completion_answers_from_the_documents_and_keeps_its_citations(client):
    earlier = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
    ]
    completion = await client.chat.completions.create(model="ragmesh", messages=earlier, temperature=0.2)
    message = completion.choices[0].message
    assert message.role == "assistant" and message.content == MOCK_ANSWER
    assert completion.choices[0].finish_reason == "stop" and completion.object == "chat.completion"
    citations = message.model_extra["citations"]
    assert citations[0]["title"].startswith("Kestrel") and "45" in citations[0]["quote"]
    extension = message.model_extra["ragmesh"]
    assert extension["question"] == QUESTION and extension["answer_id"].startswith("ans_")
    assert extension["no_context"] is False and 0 < extension["confidence"] <= 1

    retrieval = await client.chat.completions.create(
        model="ragmesh-retrieval", messages=[{"role": "user", "content": QUESTION}]
    )
    assert retrieval.choices[0].message.content == "" and retrieval.choices[0].message.model_extra["citations"]


async def test_a_stream_carries_the_answer_then_its_citations_before_done(client):
    stream = await client.chat.completions.create(
        model="ragmesh", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    pieces, last = [], None
    async for chunk in stream:
        pieces.append(chunk.choices[0].delta.content or "")
        last = chunk
    assert "".join(pieces) == MOCK_ANSWER
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"][0]["title"].startswith("Kestrel")
    assert last.model_extra["ragmesh"]["answer_id"].startswith("ans_")


async def test_unknown_models_bad_messages_and_bad_keys_are_refused(client):
    with pytest.raises(openai.NotFoundError, match="ragmesh-retrieval"):
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    with pytest.raises(openai.UnprocessableEntityError, match="user message"):
        await client.chat.completions.create(model="ragmesh", messages=[{"role": "system", "content": "only this"}])
    stranger = openai.AsyncOpenAI(base_url=str(client.base_url), api_key="not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await stranger.models.list()


async def test_embeddings_come_from_the_suites_embedder_as_floats_or_base64(client):
    texts = ["Kestrel keys rotate every 45 days.", "Sourdough needs rye flour.", "Kestrel keys rotate every 45 days."]
    # The SDK asks for base64 unless told otherwise, and decodes it.
    packed = await client.embeddings.create(model="ragmesh-embed", input=texts)
    plain = await client.embeddings.create(model="ragmesh-embed", input=texts, encoding_format="float")
    vectors = np.asarray([item.embedding for item in packed.data])
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    assert np.allclose(vectors, [item.embedding for item in plain.data], atol=1e-6)
    assert vectors[0] @ vectors[2] > 0.999 and vectors[0] @ vectors[1] < 0.5
    single = await client.embeddings.create(model="ragmesh-embed", input=texts[1], encoding_format="float")
    assert np.allclose(single.data[0].embedding, vectors[1], atol=1e-5)
    with pytest.raises(openai.NotFoundError, match="ragmesh-embed"):
        await client.embeddings.create(model="text-embedding-3-small", input="x")
    with pytest.raises(openai.UnprocessableEntityError, match=r"input texts \[1\] are empty"):
        await client.embeddings.create(model="ragmesh-embed", input=["fine", "  "])


def test_a_profile_that_is_not_a_query_is_refused_at_start():
    with pytest.raises(ValueError, match="openai_profiles\\['fast'\\] is not a set of /v1/query settings"):
        GatewaySettings(openai_profiles={"fast": {"mode": "fuzzy"}})


async def test_a_profile_picks_the_model_and_the_prompt_version_that_answer(suite):
    """Profiles are /v1/query settings, a model and a prompt registry version among them; a model the generator
    does not allow is a 422 naming those it does."""
    chosen = GeneratorSettings(
        mock_response=MOCK_ANSWER, model="openai/gpt-4o", api_base="", allowed_models=["openai/gpt-4o-mini"]
    )
    async with running(create_generator(chosen)) as generator:
        profiles = {
            "ragmesh": {},
            "ragmesh-fast": {"model": "openai/gpt-4o-mini", "prompt_version": "answer-t1"},
        }
        settings = suite.gateway_settings(
            api_keys={KEY: "openai-profiles"}, rate_limits={}, generator_target=generator, openai_profiles=profiles
        )
        async with gateway(settings) as api:
            headers = {"X-API-Key": KEY}
            await api.post("/v1/documents", headers=headers, files={"file": ("k.md", HANDBOOK, "text/markdown")})
            terse = "Answer from the numbered passages only, in one sentence, citing them like [1]."
            await api.post("/v1/admin/prompts/answer", headers=headers, json={"instruction": terse})
            client = openai.AsyncOpenAI(base_url=f"{api.base_url}/v1", api_key=KEY, max_retries=0)
            usual = await client.chat.completions.create(
                model="ragmesh", messages=[{"role": "user", "content": QUESTION}]
            )
            fast = await client.chat.completions.create(
                model="ragmesh-fast", messages=[{"role": "user", "content": QUESTION}]
            )
            refused = await api.post("/v1/query", headers=headers, json={"question": QUESTION, "model": "openai/o3"})
            unknown = await api.post(
                "/v1/query", headers=headers, json={"question": QUESTION, "prompt_version": "answer-t9"}
            )
    assert usual.choices[0].message.model_extra["ragmesh"]["model"] == "openai/gpt-4o"
    assert usual.choices[0].message.model_extra["ragmesh"]["prompt_version"] == "grounded-v2"
    extension = fast.choices[0].message.model_extra["ragmesh"]
    assert extension["model"] == "openai/gpt-4o-mini" and extension["prompt_version"] == "answer-t1"
    assert refused.status_code == 422 and "openai/gpt-4o-mini" in refused.json()["detail"]
    assert unknown.status_code == 422 and "answer-t9" in unknown.json()["detail"]
