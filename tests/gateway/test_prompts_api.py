"""The prompt registry: a tenant's own instruction, written as a draft, served to a sticky share of users beside the
built-in one (an A/B test with figures per version), promoted, rolled back; the generator writes under the
instruction it is sent (its leak guard is built from it) and reports that version, and the answer cache keeps the
versions apart."""

import pytest

from services.generator.config import GeneratorSettings
from services.generator.server import create_server as create_generator
from tests.conftest import MOCK_ANSWER
from tests.servers import gateway, running

ADMIN = {"X-API-Key": "key-prompts"}
HANDBOOK = (
    b"# Kestrel security handbook\n\n## Key rotation\n\nAPI keys for the Kestrel platform must be rotated every 45 "
    b"days by the security team. Old keys stop working 24 hours after rotation.\n"
)
QUESTION = "How often must Kestrel API keys be rotated?"
TERSE = "Answer in one short sentence from the numbered passages only, citing them like [1]; else say: I don't know."


@pytest.fixture(scope="module")
async def api(suite):
    # Dislikes here are the A/B figures' subject: the automatic rollback is tested on its own below.
    settings = suite.gateway_settings(api_keys={"key-prompts": "prompts"}, rate_limits={}, canary_most_extra_negative=1)
    async with gateway(settings) as client:
        uploaded = await client.post(
            "/v1/documents", headers=ADMIN, files={"file": ("kestrel.md", HANDBOOK, "text/markdown")}
        )
        assert uploaded.status_code == 201, uploaded.text
        client.users = {}
        for n in range(12):
            created = await client.post(
                "/v1/admin/keys", headers=ADMIN, json={"name": f"u{n}", "scopes": ["query"], "user": f"user-{n}"}
            )
            client.users[f"user-{n}"] = {"X-API-Key": created.json()["key"]}
        yield client


async def _version(api, headers, question: str = QUESTION) -> str:
    reply = await api.post("/v1/query", headers=headers, json={"question": question})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["answer"] == MOCK_ANSWER
    return body["prompt_version"]


async def test_a_version_goes_from_draft_to_canary_to_everyone_and_back(api):
    created = await api.post("/v1/admin/prompts/answer", headers=ADMIN, json={"instruction": TERSE, "note": "terse"})
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    assert version == "answer-t1" and created.json()["status"] == "draft"
    # A draft is nobody's.
    assert {await _version(api, h) for h in api.users.values()} == {"grounded-v2"}

    served = await api.post(f"/v1/admin/prompts/answer/{version}/serve", headers=ADMIN, json={"share": 0.5})
    assert served.json()["status"] == "canary"
    first = {user: await _version(api, h, f"{QUESTION} ({user})") for user, h in api.users.items()}
    # Both arms have users; each user keeps theirs (sticky), and the cache does not mix the arms.
    assert set(first.values()) == {"grounded-v2", version}
    again = {user: await _version(api, h, QUESTION) for user, h in api.users.items()}
    assert again == first

    # Figures per arm: the canary's askers dislike its answers.
    for user, headers in api.users.items():
        if first[user] == version:
            answered = await api.post("/v1/query", headers=headers, json={"question": f"Who rotates keys? {user}"})
            await api.post(
                f"/v1/answers/{answered.json()['answer_id']}/feedback", headers=headers, json={"thumb": "down"}
            )
    await api.get("/v1/admin/reviews", headers=ADMIN)  # waits for the queued records
    figures = {
        f["version"]: f for f in (await api.get("/v1/admin/prompts/answer/figures", headers=ADMIN)).json()["versions"]
    }
    assert figures[version]["answers"] > 0 and figures["grounded-v2"]["answers"] > 0
    assert figures[version]["negative_rate"] > 0 == figures["grounded-v2"]["negative_rate"]
    assert figures[version]["cited_rate"] == 1.0 and figures[version]["latency_ms_p50"] > 0

    promoted = await api.post(f"/v1/admin/prompts/answer/{version}/serve", headers=ADMIN, json={"share": 1})
    assert promoted.json()["status"] == "serving"
    assert {await _version(api, h) for h in api.users.values()} == {version}

    rolled = await api.post("/v1/admin/prompts/answer/rollback", headers=ADMIN)
    assert [p["status"] for p in rolled.json()["prompts"]] == ["retired"]
    assert {await _version(api, h) for h in api.users.values()} == {"grounded-v2"}
    nothing = await api.post("/v1/admin/prompts/answer/rollback", headers=ADMIN)
    assert nothing.status_code == 409 and "nothing to roll back" in nothing.json()["detail"]


async def test_the_generator_writes_under_the_tenants_instruction(suite, api):
    """The generator's leak guard is built from the instruction it is sent: a model that repeats the tenant's
    instruction is refused under that version, and passes under the built-in one (which it does not repeat)."""
    parroting = GeneratorSettings(mock_response=TERSE)
    async with running(create_generator(parroting)) as generator:
        settings = suite.gateway_settings(
            api_keys={"key-prompts": "prompts"}, rate_limits={}, generator_target=generator
        )
        async with gateway(settings) as client:
            built_in = (await client.post("/v1/query", headers=ADMIN, json={"question": QUESTION})).json()
            created = await client.post("/v1/admin/prompts/answer", headers=ADMIN, json={"instruction": TERSE})
            version = created.json()["version"]
            await client.post(f"/v1/admin/prompts/answer/{version}/serve", headers=ADMIN, json={"share": 1})
            tenant = (await client.post("/v1/query", headers=ADMIN, json={"question": QUESTION + "?"})).json()
            await client.post("/v1/admin/prompts/answer/rollback", headers=ADMIN)
    assert built_in["answer"].startswith(TERSE[:40]) and built_in["prompt_version"] == "grounded-v2"
    assert tenant["answer"] == "I can't share that." and tenant["prompt_version"] == version


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "reason"),
    [
        ("post", "/v1/admin/prompts/answer", {"instruction": "too short"}, 422, "instruction"),
        ("post", "/v1/admin/prompts/poetry", {"instruction": TERSE}, 422, "role"),
        ("post", "/v1/admin/prompts/answer/answer-t99/serve", {"share": 0.5}, 404, "answer-t99"),
        ("post", "/v1/admin/prompts/answer/answer-t1/serve", {"share": 0}, 422, "share"),
    ],
)
async def test_bad_registry_requests_say_what_is_wrong(api, method, path, body, status, reason):
    reply = await getattr(api, method)(path, headers=ADMIN, json=body)
    assert reply.status_code == status and reason in reply.json()["detail"]


async def test_the_registry_is_for_administrators(api):
    user = next(iter(api.users.values()))
    assert (await api.get("/v1/admin/prompts/answer", headers=user)).status_code == 403


async def test_a_canary_whose_answers_are_disliked_rolls_itself_back(suite):
    key = {"X-API-Key": "key-guard"}
    settings = suite.gateway_settings(
        api_keys={"key-guard": "prompts-guard"}, rate_limits={}, canary_least_answers=3, canary_most_extra_negative=0.1
    )
    async with gateway(settings) as client:
        await client.post("/v1/documents", headers=key, files={"file": ("kestrel.md", HANDBOOK, "text/markdown")})
        version = (await client.post("/v1/admin/prompts/answer", headers=key, json={"instruction": TERSE})).json()
        await client.post(f"/v1/admin/prompts/answer/{version['version']}/serve", headers=key, json={"share": 0.5})
        disliked = 0
        for n in range(40):
            created = await client.post(
                "/v1/admin/keys", headers=key, json={"name": f"g{n}", "scopes": ["query"], "user": f"guard-{n}"}
            )
            asker = {"X-API-Key": created.json()["key"]}
            answer = (await client.post("/v1/query", headers=asker, json={"question": f"{QUESTION} {n}"})).json()
            if answer["prompt_version"] == version["version"]:
                await client.post(f"/v1/answers/{answer['answer_id']}/feedback", headers=asker, json={"thumb": "down"})
                disliked += 1
            if disliked == 3:
                break
        listed = (await client.get("/v1/admin/prompts/answer", headers=key)).json()["prompts"]
    assert disliked == 3
    assert (
        listed[0]["status"] == "retired"
        and "rolled back automatically: 100% of its 3 answers disliked" in listed[0]["note"]
    )
