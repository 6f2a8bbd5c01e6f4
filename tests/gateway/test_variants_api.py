"""Pipeline variants: /v1/query options served to a sticky share of users beside the defaults (an A/B test), the
caller's own options winning; each answer names its variant, figures compare the arms, a promoted variant serves
everyone, and a canary whose answers are disliked rolls itself back."""

import pytest

from tests.servers import gateway

ADMIN = {"X-API-Key": "key-variants"}
HANDBOOK = (
    b"# Kestrel security handbook\n\n## Key rotation\n\nAPI keys for the Kestrel platform must be rotated every 45 "
    b"days by the security team. Old keys stop working 24 hours after rotation. Rotation is logged.\n"
)
QUESTION = "How often must Kestrel API keys be rotated?"


async def _users(api, headers, count: int, prefix: str) -> list[dict[str, str]]:
    users = []
    for n in range(count):
        created = await api.post(
            "/v1/admin/keys",
            headers=headers,
            json={"name": f"{prefix}{n}", "scopes": ["query"], "user": f"{prefix}{n}"},
        )
        users.append({"X-API-Key": created.json()["key"]})
    return users


@pytest.fixture(scope="module")
async def api(suite):
    settings = suite.gateway_settings(
        api_keys={"key-variants": "variants"}, rate_limits={}, canary_most_extra_negative=1
    )
    async with gateway(settings) as client:
        await client.post("/v1/documents", headers=ADMIN, files={"file": ("k.md", HANDBOOK, "text/markdown")})
        client.users = await _users(client, ADMIN, 12, "v")
        yield client


async def _asked(api, headers, **body) -> dict:
    reply = await api.post("/v1/query", headers=headers, json={"question": QUESTION, "generate": False, **body})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_a_variant_is_served_to_a_sticky_share_and_the_callers_own_options_win(api):
    created = await api.post("/v1/admin/variants", headers=ADMIN, json={"options": {"compress": False}, "note": "raw"})
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    assert version == "pipeline-t1" and created.json()["options"] == {"compress": False}
    served = await api.post(f"/v1/admin/variants/{version}/serve", headers=ADMIN, json={"share": 0.5})
    assert served.json()["status"] == "canary"

    arms = {}
    for n, user in enumerate(api.users):
        answer = await _asked(api, user)
        arms[n] = answer["variant"]
        # The variant's options are what its users' answers were made with.
        assert answer["context"]["compression"] == ("" if answer["variant"] else "similarity")
        assert (await _asked(api, user))["variant"] == arms[n]  # sticky
    assert set(arms.values()) == {"", version}
    someone = next(api.users[n] for n, arm in arms.items() if arm)
    mine = await _asked(api, someone, compress=True)
    assert mine["variant"] == version and mine["context"]["compression"] == "similarity"

    await api.get("/v1/admin/reviews", headers=ADMIN)  # the records are written
    figures = {f["version"]: f for f in (await api.get("/v1/admin/variants/figures", headers=ADMIN)).json()["versions"]}
    assert figures[version]["answers"] > 0 and figures[""]["answers"] > 0

    promoted = await api.post(f"/v1/admin/variants/{version}/serve", headers=ADMIN, json={"share": 1})
    assert promoted.json()["status"] == "serving"
    assert {(await _asked(api, user))["variant"] for user in api.users} == {version}
    rolled = await api.post("/v1/admin/variants/rollback", headers=ADMIN)
    assert rolled.json()["variants"][0]["status"] == "retired"
    assert {(await _asked(api, user))["variant"] for user in api.users} == {""}


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({}, "at least one"),
        ({"question": "x"}, "question cannot vary"),
        ({"stream": True}, "stream cannot vary"),
        ({"top_k": "many"}, "top_k"),
        ({"expand": "paragraph"}, "expand"),
    ],
)
async def test_a_variant_that_cannot_be_is_refused(api, options, reason):
    reply = await api.post("/v1/admin/variants", headers=ADMIN, json={"options": options})
    assert reply.status_code == 422 and reason in reply.json()["detail"]


async def test_a_disliked_variant_rolls_itself_back(suite):
    key = {"X-API-Key": "key-variants-guard"}
    settings = suite.gateway_settings(
        api_keys={"key-variants-guard": "variants-guard"}, rate_limits={}, canary_least_answers=3
    )
    async with gateway(settings) as client:
        await client.post("/v1/documents", headers=key, files={"file": ("k.md", HANDBOOK, "text/markdown")})
        version = (await client.post("/v1/admin/variants", headers=key, json={"options": {"top_k": 2}})).json()
        await client.post(f"/v1/admin/variants/{version['version']}/serve", headers=key, json={"share": 0.5})
        disliked = 0
        for user in await _users(client, key, 30, "g"):
            answer = await _asked(client, user)
            if answer["variant"]:
                await client.post(f"/v1/answers/{answer['answer_id']}/feedback", headers=user, json={"thumb": "down"})
                disliked += 1
            if disliked == 3:
                break
        listed = (await client.get("/v1/admin/variants", headers=key)).json()["variants"]
    assert disliked == 3 and listed[0]["status"] == "retired" and "rolled back automatically" in listed[0]["note"]
