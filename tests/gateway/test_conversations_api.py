"""Conversations: a follow-up is made standalone from the earlier turns before retrieval (by rule, or by the model
when configured, the rules standing in when it fails), the rewrite comes back with the answer, and a chat
completion's earlier messages are its history."""

import json

import openai
import pytest

from services.generator.config import GeneratorSettings
from services.generator.server import create_server as create_generator
from tests.conftest import MOCK_ANSWER
from tests.servers import gateway, running

KEY = {"X-API-Key": "key-talk"}
MANUALS = {
    "kestrel.md": b"# Kestrel handbook\n\n## Key rotation\n\nKestrel API keys must be rotated every 45 days by the "
    b"security team. Old keys stop working 24 hours after rotation.\n",
    "osprey.md": b"# Osprey pump manual\n\n## Intake filter\n\nThe Osprey pump's intake filter is replaced every 600 "
    b"hours of running.\n\n## Oil filter\n\nThe Osprey pump's oil filter is changed every 250 hours, with the oil."
    b"\n\n## Fuel filter\n\nThe Osprey pump's fuel filter is drained weekly and changed yearly.\n",
}
KESTREL = [
    {"role": "user", "content": "How often must Kestrel API keys be rotated?"},
    {"role": "assistant", "content": "Every 45 days [1]."},
]
FILTERS = [
    {"role": "user", "content": "Which filters does the Osprey pump have?"},
    {"role": "assistant", "content": "Three:\n1. The intake filter\n2. The oil filter\n3. The fuel filter"},
]


async def _documents(client) -> None:
    for name, body in MANUALS.items():
        reply = await client.post("/v1/documents", headers=KEY, files={"file": (name, body, "text/markdown")})
        assert reply.status_code == 201, reply.text


@pytest.fixture(scope="module")
async def api(suite):
    async with gateway(suite.gateway_settings(api_keys={"key-talk": "talk"}, rate_limits={})) as client:
        await _documents(client)
        yield client


async def test_a_follow_up_is_answered_from_what_the_conversation_was_about(api):
    question = "And how long do old ones keep working?"
    reply = await api.post("/v1/query", headers=KEY, json={"question": question, "history": KESTREL})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["rewrite"]["method"] == "rules" and body["rewrite"]["original"] == question
    assert "Kestrel API keys" in body["rewrite"]["question"]
    assert body["citations"][0]["title"].startswith("Kestrel") and "24 hours" in body["citations"][0]["text"]
    # The same follow-up in the same conversation is the same standalone question: served from the answer cache.
    again = (await api.post("/v1/query", headers=KEY, json={"question": question, "history": KESTREL})).json()
    assert again["cached"] is True and again["rewrite"] == body["rewrite"]


async def test_an_ordinal_names_the_item_of_the_previous_answers_list(api):
    body = {"question": "and the second one, how often is it changed?", "history": FILTERS, "generate": False}
    found = (await api.post("/v1/query", headers=KEY, json=body)).json()
    assert "The oil filter" in found["rewrite"]["question"]
    assert "250 hours" in found["citations"][0]["text"]


async def test_a_question_that_stands_alone_is_not_rewritten(api):
    body = {"question": "How often is the Osprey pump's intake filter replaced?", "history": KESTREL}
    found = (await api.post("/v1/query", headers=KEY, json=body)).json()
    assert found["rewrite"] is None and "600 hours" in found["citations"][0]["text"]


async def test_a_streamed_follow_up_carries_its_rewrite_in_the_last_event(api):
    body = {"question": "And how long do old ones keep working?", "history": KESTREL, "stream": True}
    async with api.stream("POST", "/v1/query", headers=KEY, json=body) as reply:
        lines = [line async for line in reply.aiter_lines()]
    done = json.loads(lines[lines.index("event: done") + 1].removeprefix("data: "))
    assert done["rewrite"]["method"] == "rules" and done["citations"][0]["title"].startswith("Kestrel")


@pytest.mark.parametrize(
    ("history", "reason"),
    [
        ([{"role": "system", "content": "Be brief."}], "history.0.role"),
        ([{"role": "user"}], "history.0.content"),
        ([{"role": "user", "content": "x" * 20_001}], "history.0.content"),
    ],
)
async def test_a_malformed_history_is_a_422_naming_the_turn(api, history, reason):
    reply = await api.post("/v1/query", headers=KEY, json={"question": "and then?", "history": history})
    assert reply.status_code == 422 and reason in reply.json()["detail"]


async def test_a_multi_turn_chat_with_the_openai_client_keeps_the_topic(api):
    client = openai.AsyncOpenAI(base_url=f"{api.base_url}/v1", api_key="key-talk", max_retries=0)
    messages = [
        {"role": "system", "content": "Answer from the manuals."},
        *FILTERS,
        {"role": "user", "content": "and the second one, how often is it changed?"},
    ]
    completion = await client.chat.completions.create(model="ragmesh", messages=messages)
    extension = completion.choices[0].message.model_extra["ragmesh"]
    assert extension["rewrite"]["method"] == "rules" and "The oil filter" in extension["question"]
    assert completion.choices[0].message.content == MOCK_ANSWER
    assert "250 hours" in completion.choices[0].message.model_extra["citations"][0]["text"]


async def test_the_model_rewrites_when_configured_and_the_rules_stand_in_when_it_fails(suite, api):
    standalone = "How long do old Kestrel API keys keep working after rotation?"
    rewriting = GeneratorSettings(mock_response=json.dumps({"question": standalone}))
    async with running(create_generator(rewriting)) as generator:
        settings = suite.gateway_settings(
            api_keys={"key-talk": "talk"}, rate_limits={}, generator_target=generator, conversation_rewrite="llm"
        )
        async with gateway(settings) as client:
            body = {"question": "And the old ones?", "history": KESTREL, "generate": False}
            found = (await client.post("/v1/query", headers=KEY, json=body)).json()
    assert found["rewrite"] == {"question": standalone, "original": "And the old ones?", "method": "llm"}
    assert found["citations"][0]["title"].startswith("Kestrel")
    # The suite's generator answers prose, not the JSON asked for: the rules stand in.
    settings = suite.gateway_settings(api_keys={"key-talk": "talk"}, rate_limits={}, conversation_rewrite="llm")
    async with gateway(settings) as client:
        found = (await client.post("/v1/query", headers=KEY, json=body)).json()
    assert found["rewrite"]["method"] == "rules" and "Kestrel" in found["rewrite"]["question"]
