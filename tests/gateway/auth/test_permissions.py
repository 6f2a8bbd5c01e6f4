"""Document permissions inside one tenant, end to end: a restricted document never reaches a caller outside its
users and groups — not in search, answers, sections, cached answers, document reads, lists or deletes."""

import pytest
import redis.asyncio as redis

from services.gateway.models import QueryResponse
from services.gateway.query.caches import AnswerCache
from services.runtime.access import Viewer
from tests.servers import gateway

ADMIN = {"X-API-Key": "key-perm-admin"}
DOCS = {
    # name: (text, allowed_users, allowed_groups)
    "lunch.md": ("# Canteen\n\nThe Heron canteen serves lunch from 11:30 to 14:00 on weekdays.\n", "", ""),
    "salaries.md": (
        "# Heron salary bands\n\nHeron engineers in band E4 earn between 91,000 and 104,000 crowns a year.\n",
        "",
        "hr",
    ),
    "review.md": (
        "# Heron review of Ann\n\nAnn's Heron review rates her delivery as outstanding for the year.\n",
        "ann",
        "",
    ),
}
SALARY_QUESTION = "How much do Heron engineers in band E4 earn?"


@pytest.fixture(scope="module")
async def heron(suite):
    """A tenant with an admin bootstrap key, three query keys (HR, Ann, an outsider) and three documents."""
    # No per-caller rate limits here: these tests ask more than 10 questions per key.
    settings = suite.gateway_settings(api_keys={"key-perm-admin": "heron"}, rate_limits={})
    async with gateway(settings) as api:
        ids = {}
        for name, (text, users, groups) in DOCS.items():
            reply = await api.post(
                "/v1/documents",
                headers=ADMIN,
                files={"file": (name, text.encode(), "text/markdown")},
                data={"allowed_users": users, "allowed_groups": groups},
            )
            assert reply.status_code == 201, reply.text
            ids[name] = reply.json()["document_id"]
        keys = {}
        for who, user, groups in (("hr", "hanna", ["hr"]), ("ann", "ann", ["eng"]), ("outsider", "otto", ["eng"])):
            created = await api.post(
                "/v1/admin/keys", headers=ADMIN, json={"name": who, "scopes": ["query"], "user": user, "groups": groups}
            )
            keys[who] = {"X-API-Key": created.json()["key"]}
        yield api, ids, keys


VISIBLE = {
    "hr": {"lunch.md", "salaries.md"},
    "ann": {"lunch.md", "review.md"},
    "outsider": {"lunch.md"},
}


@pytest.mark.parametrize("who", list(VISIBLE))
async def test_search_and_answers_show_only_permitted_documents(heron, who):
    api, ids, keys = heron
    allowed = {ids[name] for name in VISIBLE[who]}
    for question in ("Heron", SALARY_QUESTION, "Ann's review delivery outstanding", "canteen lunch"):
        found = (await api.post("/v1/search", headers=keys[who], json={"query": question, "top_k": 10})).json()
        assert {h["document_id"] for h in found["hits"]} <= allowed
        answer = (await api.post("/v1/query", headers=keys[who], json={"question": question, "top_k": 10})).json()
        assert {c["document_id"] for c in answer["citations"]} <= allowed
        for chunk_only in (
            await api.post("/v1/query", headers=keys[who], json={"question": question, "expand": "chunk"})
        ).json()["citations"]:
            assert chunk_only["document_id"] in allowed


@pytest.mark.parametrize("who", list(VISIBLE))
async def test_document_reads_lists_and_deletes_honour_permissions(heron, who):
    api, ids, keys = heron
    listed = (await api.get("/v1/documents", headers=keys[who])).json()
    assert {d["filename"] for d in listed["documents"]} == VISIBLE[who] and listed["total"] == len(VISIBLE[who])
    for name, document_id in ids.items():
        expected = 200 if name in VISIBLE[who] else 404
        assert (await api.get(f"/v1/documents/{document_id}", headers=keys[who])).status_code == expected
        assert (await api.get(f"/v1/documents/{document_id}/text", headers=keys[who])).status_code == expected
    # Query keys cannot delete at all; an ingest key outside the groups gets 404, and the document stays.
    assert (await api.delete(f"/v1/documents/{ids['salaries.md']}", headers=keys[who])).status_code == 403


async def test_a_cached_answer_is_not_served_to_a_caller_who_may_not_see_its_sources(heron):
    api, ids, keys = heron
    body = {"question": SALARY_QUESTION, "top_k": 10}
    first = (await api.post("/v1/query", headers=keys["hr"], json=body)).json()
    assert ids["salaries.md"] in {c["document_id"] for c in first["citations"]}, first
    again = (await api.post("/v1/query", headers=keys["hr"], json=body)).json()
    assert again["cached"] is True
    # Whether or not the outsider's own earlier answer is cached, it is never HR's.
    outsider = (await api.post("/v1/query", headers=keys["outsider"], json=body)).json()
    assert ids["salaries.md"] not in {c["document_id"] for c in outsider["citations"]}
    assert "91,000" not in outsider["answer"] and all("91,000" not in c["text"] for c in outsider["citations"])


async def test_changing_access_opens_and_closes_a_document_without_reindexing(heron):
    api, ids, keys = heron
    doc = ids["review.md"]
    opened = await api.put(f"/v1/documents/{doc}/access", headers=ADMIN, json={"allowed_groups": ["eng"]})
    assert opened.status_code == 200 and opened.json()["metadata"]["allowed_groups"] == ["eng"]
    assert opened.json()["chunk_count"] == 1
    found = (await api.post("/v1/search", headers=keys["outsider"], json={"query": "Ann's review", "top_k": 10})).json()
    assert doc in {h["document_id"] for h in found["hits"]}
    closed = await api.put(f"/v1/documents/{doc}/access", headers=ADMIN, json={"allowed_users": ["ann"]})
    assert closed.status_code == 200
    found = (await api.post("/v1/search", headers=keys["outsider"], json={"query": "Ann's review", "top_k": 10})).json()
    assert doc not in {h["document_id"] for h in found["hits"]}
    assert (await api.get(f"/v1/documents/{doc}", headers=keys["ann"])).status_code == 200
    # A caller who cannot see a document cannot change its access either; bad names are 422.
    hidden = await api.put(f"/v1/documents/{ids['salaries.md']}/access", headers=keys["outsider"], json={})
    assert hidden.status_code == 403
    bad = await api.put(f"/v1/documents/{doc}/access", headers=ADMIN, json={"allowed_users": [""]})
    assert bad.status_code == 422


async def test_an_ingest_key_outside_the_groups_cannot_see_or_delete_a_restricted_document(heron):
    api, ids, _ = heron
    created = await api.post(
        "/v1/admin/keys", headers=ADMIN, json={"name": "uploader", "scopes": ["ingest", "query"], "user": "uma"}
    )
    uploader = {"X-API-Key": created.json()["key"]}
    assert (await api.delete(f"/v1/documents/{ids['salaries.md']}", headers=uploader)).status_code == 404
    assert (await api.put(f"/v1/documents/{ids['salaries.md']}/access", headers=uploader, json={})).status_code == 404
    assert (await api.get(f"/v1/documents/{ids['salaries.md']}", headers=ADMIN)).status_code == 200


async def test_the_answer_cache_refuses_an_entry_whose_sources_the_reader_may_not_see(suite):
    """Even under the same key (as if two readers shared one), the entry's access lists decide."""
    client = redis.from_url(suite.redis_url)
    cache = AnswerCache(client, ttl_seconds=60)
    response = QueryResponse(answer="E4 earns 91,000", citations=[], confidence=1, no_context=False)
    await cache.put("ragmesh:answer:test-acl", response, {"doc-salaries": ([], ["hr"]), "doc-lunch": ([], [])})
    assert await cache.get("ragmesh:answer:test-acl", Viewer(user="hanna", groups=("hr",))) == response
    assert await cache.get("ragmesh:answer:test-acl", Viewer(everything=True)) == response
    assert await cache.get("ragmesh:answer:test-acl", Viewer(user="otto", groups=("eng",))) is None
    assert await cache.get("ragmesh:answer:test-acl", Viewer()) is None
    await client.aclose()
