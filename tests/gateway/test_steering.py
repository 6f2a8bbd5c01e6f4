"""Learned steering, end to end. Dials: a tenant learns a dial from contrastive pairs (texts unrelated to its
documents), and requests that turn it move retrieval towards its positive or negative side; weight 0 changes nothing;
unknown dials and out-of-range weights are 422; caches never mix steered and unsteered results. Per-user vectors: a
user's own feedback leans their retrieval towards what they liked, never anyone else's, and they can reset it."""

import pytest

from tests.servers import gateway

ADMIN = {"X-API-Key": "key-dials"}
KEYS = {"key-dials": "dials", "key-dials-other": "dials-other"}
WINTER = {
    "w1": "In winter the Heron ferry runs twice a day because ice closes the northern channel.",
    "w2": "During the snowy months the Heron ferry crew clears frost from the deck before each crossing.",
    "w3": "From December to February the Heron ferry timetable is reduced and the cafe on board closes.",
}
SUMMER = {
    "s1": "In summer the Heron ferry runs every hour and carries crowds of tourists to the beaches.",
    "s2": "During the warm season the Heron ferry opens its sun deck and sells ice cream on board.",
    "s3": "From June to August the Heron ferry timetable adds evening crossings for festival visitors.",
}
# The dial is learned from texts about anything but ferries: cold against warm.
PAIRS = [
    ("Snow fell all night and the roads froze.", "The sun shone all day and the roads were dusty."),
    ("We wore scarves and thick gloves.", "We wore shorts and sandals."),
    ("The lake was frozen solid.", "The lake was warm enough to swim in."),
    ("Icicles hung from the roof.", "Flowers bloomed along the roof."),
    ("A blizzard closed the mountain pass.", "A heatwave closed the schools early."),
    ("The children built a snowman.", "The children built a sandcastle."),
    ("Frost covered the windows at dawn.", "Bright sunlight filled the windows at dawn."),
    ("We drank hot chocolate by the fire.", "We drank lemonade in the shade."),
    ("The heating ran all through January.", "The air conditioning ran all through July."),
    ("Sleet made the pavement slippery.", "Heat made the pavement shimmer."),
    ("The skiing season opened in December.", "The beach season opened in June."),
    ("Bare trees stood in the cold wind.", "Green trees swayed in the warm breeze."),
]
QUERY = {"query": "Heron ferry timetable", "top_k": 6, "mode": "dense"}


@pytest.fixture(scope="module")
async def dialled(suite):
    async with gateway(suite.gateway_settings(api_keys=KEYS, rate_limits={})) as api:
        for document_id, text in {**WINTER, **SUMMER}.items():
            uploaded = await api.post(
                "/v1/documents",
                headers=ADMIN,
                data={"document_id": document_id},
                files={"file": (f"{document_id}.txt", text.encode(), "text/plain")},
            )
            assert uploaded.status_code == 201, uploaded.text
        yield api


def _winter_in_top(reply: dict, k: int = 3) -> int:
    return sum(hit["document_id"] in WINTER for hit in reply["hits"][:k])


def _winter_rank(reply: dict) -> float:
    """The mean position of the winter documents (1 is the top)."""
    return sum(n for n, hit in enumerate(reply["hits"], start=1) if hit["document_id"] in WINTER) / len(WINTER)


async def _search(api, **extra) -> dict:
    reply = await api.post("/v1/search", headers=ADMIN, json={**QUERY, **extra})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_a_dial_learned_from_unrelated_pairs_moves_retrieval_towards_its_side(dialled):
    api = dialled
    body = {"pairs": [{"positive": p, "negative": n} for p, n in PAIRS], "description": "winter over summer"}
    learned = await api.put("/v1/admin/dials/winter", headers=ADMIN, json=body)
    assert learned.status_code == 200, learned.text
    info = learned.json()
    assert info["pairs"] == 12 and info["held_out_pairs"] == 12 and info["held_out_accuracy"] >= 0.9, info

    plain = await _search(api)
    assert [h["document_id"] for h in (await _search(api, dials={"winter": 0}))["hits"]] == [
        h["document_id"] for h in plain["hits"]
    ]
    warm, cold = await _search(api, dials={"winter": -1}), await _search(api, dials={"winter": 1})
    # Dense retrieval alone, so that the dial's effect is all there is: winter documents rise and fall.
    assert _winter_in_top(cold) == 3 > _winter_in_top(plain), (cold["hits"], plain["hits"])
    assert _winter_rank(cold) < _winter_rank(plain) < _winter_rank(warm)
    # The same search again comes from the retrieval cache, still told apart by its dial.
    assert _winter_in_top(await _search(api, dials={"winter": 1})) == 3
    assert _winter_rank(await _search(api, dials={"winter": -1})) == _winter_rank(warm)

    answer = await api.post(
        "/v1/query", headers=ADMIN, json={"question": "Heron ferry timetable?", "dials": {"winter": 1}}
    )
    assert answer.status_code == 200 and answer.json()["citations"][0]["document_id"] in WINTER

    listed = (await api.get("/v1/admin/dials", headers=ADMIN)).json()["dials"]
    assert [d["name"] for d in listed] == ["winter"] and listed[0]["description"] == "winter over summer"


async def test_unknown_dials_bad_weights_and_bad_pairs_are_refused(dialled):
    api = dialled
    unknown = await api.post("/v1/search", headers=ADMIN, json={**QUERY, "dials": {"spring": 0.5}})
    assert unknown.status_code == 422 and "unknown dial(s) ['spring']" in unknown.text
    for dials in ({"winter": 1.5}, {"Winter!": 0.5}, {f"d{i}": 0.1 for i in range(9)}):
        assert (await api.post("/v1/search", headers=ADMIN, json={**QUERY, "dials": dials})).status_code == 422
    few = {"pairs": [{"positive": "a", "negative": "b"}]}
    assert (await api.put("/v1/admin/dials/tiny", headers=ADMIN, json=few)).status_code == 422
    same = {"pairs": [{"positive": "the same text", "negative": "the same text"}] * 4}
    alike = await api.put("/v1/admin/dials/same", headers=ADMIN, json=same)
    assert alike.status_code == 422 and "no direction" in alike.text
    assert (await api.put("/v1/admin/dials/Bad Name", headers=ADMIN, json=few)).status_code == 422


async def test_a_deleted_dial_is_refused_and_other_tenants_never_see_one(dialled):
    api = dialled
    body = {"pairs": [{"positive": p, "negative": n} for p, n in PAIRS[:6]]}
    assert (await api.put("/v1/admin/dials/brief", headers=ADMIN, json=body)).status_code == 200
    assert (await api.post("/v1/search", headers=ADMIN, json={**QUERY, "dials": {"brief": 1}})).status_code == 200
    other = {"X-API-Key": "key-dials-other"}
    elsewhere = await api.post("/v1/search", headers=other, json={**QUERY, "dials": {"brief": 1}})
    assert elsewhere.status_code == 422 and "this tenant's dials: none" in elsewhere.text
    assert (await api.delete("/v1/admin/dials/brief", headers=ADMIN)).status_code == 204
    assert (await api.delete("/v1/admin/dials/brief", headers=ADMIN)).status_code == 404
    gone = await api.post("/v1/search", headers=ADMIN, json={**QUERY, "dials": {"brief": 1}})
    assert gone.status_code == 422 and "unknown dial" in gone.text


async def _user(api, name: str) -> dict[str, str]:
    created = await api.post("/v1/admin/keys", headers=ADMIN, json={"name": name, "scopes": ["query"], "user": name})
    assert created.status_code == 201, created.text
    return {"X-API-Key": created.json()["key"]}


async def test_a_users_own_feedback_leans_their_retrieval_and_no_one_elses(dialled):
    api = dialled
    alice, bob = await _user(api, "alice"), await _user(api, "bob")
    plain = await _search(api, personalize=False)
    first = (await api.post("/v1/search", headers=alice, json=QUERY)).json()
    assert _winter_rank(first) == _winter_rank(plain)  # nothing learned yet
    liked = [n for n, hit in enumerate(first["hits"], start=1) if hit["document_id"] in WINTER]
    disliked = [n for n, hit in enumerate(first["hits"], start=1) if hit["document_id"] in SUMMER]
    given = await api.post(
        f"/v1/answers/{first['answer_id']}/feedback",
        headers=alice,
        json={"relevant": liked, "not_relevant": disliked},
    )
    assert given.status_code == 201, given.text
    mine = (await api.get("/v1/me/preferences", headers=alice)).json()
    assert mine["liked"] == 3 and mine["disliked"] == 3 and mine["applied"] is True

    leaning = (await api.post("/v1/search", headers=alice, json=QUERY)).json()
    assert _winter_rank(leaning) < _winter_rank(plain), (leaning["hits"], plain["hits"])
    off = (await api.post("/v1/search", headers=alice, json={**QUERY, "personalize": False})).json()
    assert _winter_rank(off) == _winter_rank(plain)
    # Never shared: bob's searches and bob's preferences are his own.
    assert _winter_rank((await api.post("/v1/search", headers=bob, json=QUERY)).json()) == _winter_rank(plain)
    assert (await api.get("/v1/me/preferences", headers=bob)).json()["applied"] is False
    # An admin's feedback on alice's answer is kept for reviewers but does not shape alice's vector.
    await api.post(f"/v1/answers/{first['answer_id']}/feedback", headers=ADMIN, json={"relevant": disliked})
    assert (await api.get("/v1/me/preferences", headers=alice)).json()["liked"] == 3

    assert (await api.delete("/v1/me/preferences", headers=alice)).status_code == 204
    assert (await api.get("/v1/me/preferences", headers=alice)).json() == {
        "liked": 0,
        "disliked": 0,
        "applied": False,
        "needed": 3,
        "updated_at": None,
    }
    assert _winter_rank((await api.post("/v1/search", headers=alice, json=QUERY)).json()) == _winter_rank(plain)
