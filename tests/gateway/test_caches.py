"""The cache layers end to end: exact answers, answers to near-identical questions (semantic), ranked hits
(retrieval), each keyed on the corpus version and the reader; and the operators' view (GET/DELETE
/v1/admin/cache)."""

import pytest
import redis.asyncio as redis

from ragmesh.retriever.v1 import retriever_pb2
from ragmesh.suite import redis_server
from services.gateway.query.caches import RetrievalCache
from services.runtime.metrics import CACHE_HITS
from tests.servers import gateway

ADMIN = {"X-API-Key": "key-caches"}
OPERATOR = {"X-API-Key": "key-caches-operator"}
DOCUMENT = b"# Tern ferry\n\nThe Tern ferry leaves Harl harbour at 07:15 every morning and returns at 18:30.\n"
QUESTION = "When does the Tern ferry leave Harl harbour?"
PARAPHRASE = "When does the Tern ferry depart from Harl harbour?"


def _hits(layer: str) -> float:
    return CACHE_HITS.labels(layer)._value.get()


@pytest.fixture(scope="module")
async def api(suite):
    settings = suite.gateway_settings(
        api_keys={"key-caches": "caches", "key-caches-operator": "cache-operators"},
        operator_tenants=["cache-operators"],
        semantic_cache_threshold=0.95,
    )
    async with gateway(settings) as client:
        uploaded = await client.post(
            "/v1/documents",
            headers=ADMIN,
            data={"document_id": "tern"},
            files={"file": ("tern.md", DOCUMENT, "text/markdown")},
        )
        assert uploaded.status_code == 201, uploaded.text
        yield client


async def _ask(api, question: str, headers=ADMIN, **options) -> dict:
    reply = await api.post("/v1/query", headers=headers, json={"question": question, **options})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_a_paraphrase_is_served_from_the_semantic_cache_until_the_corpus_changes(api):
    first = await _ask(api, QUESTION)
    assert first["cached"] is False and "07:15" in first["citations"][0]["quotes"][0]["text"]
    before = _hits("semantic")
    again = await _ask(api, PARAPHRASE)
    assert again["cached"] == "semantic" and again["cached_question"] == QUESTION, again
    assert again["answer"] == first["answer"] and again["usage"]["model_calls"] == 0
    assert _hits("semantic") == before + 1
    # Another request shape (a different top_k) is another scope: answered afresh.
    assert (await _ask(api, PARAPHRASE, top_k=3))["cached"] is False
    # A restricted reader is another scope too (its access entries differ).
    restricted = await api.post(
        "/v1/admin/keys", headers=ADMIN, json={"name": "reader", "scopes": ["query"], "user": "ann"}
    )
    reader = {"X-API-Key": restricted.json()["key"]}
    assert (await _ask(api, PARAPHRASE, reader))["cached"] is False
    # The timetable changes: neither the exact nor the semantic entry outlives the corpus they were built on.
    changed = DOCUMENT.replace(b"07:15", b"08:05")
    updated = await api.post(
        "/v1/documents",
        headers=ADMIN,
        data={"document_id": "tern"},
        files={"file": ("tern.md", changed, "text/markdown")},
    )
    assert updated.status_code == 200, updated.text
    after = await _ask(api, PARAPHRASE)
    assert after["cached"] is False and "08:05" in after["citations"][0]["quotes"][0]["text"]


async def test_a_search_repeated_on_the_same_corpus_comes_from_the_retrieval_cache(api):
    body = {"query": "Tern ferry return time", "top_k": 2}
    first = (await api.post("/v1/search", headers=ADMIN, json=body)).json()
    assert "retrieve" in first["timings_ms"] and "embed" in first["timings_ms"]
    before = _hits("retrieval")
    second = (await api.post("/v1/search", headers=ADMIN, json=body)).json()
    # Neither embedded nor searched again: the same hits, from the cache.
    assert "retrieve" not in second["timings_ms"] and "embed" not in second["timings_ms"]
    assert second["hits"] == first["hits"] and _hits("retrieval") == before + 1
    # Another mode is another search.
    third = (await api.post("/v1/search", headers=ADMIN, json={**body, "mode": "dense"})).json()
    assert "retrieve" in third["timings_ms"]


async def test_a_retrieval_entry_gives_back_its_hits_and_the_query_vector(suite):
    client = redis.from_url(suite.redis_url)
    cache = RetrievalCache(client, 60)
    search = retriever_pb2.SearchRequest(tenant="packed", text="ferry", top_k=3)
    key = RetrievalCache.key("v1", search)
    hits = [
        retriever_pb2.Hit(chunk=retriever_pb2.Chunk(document_id=f"d{i}", text=f"passage {i}"), score=1 / (i + 1))
        for i in range(3)
    ]
    vector = [0.25, -1.5, 3.0, 1e-3]
    assert await cache.get(key) is None
    await cache.put(key, hits, vector)
    cached_hits, cached_vector = await cache.get(key)
    assert cached_hits == hits and cached_vector == pytest.approx(vector)
    # Nothing found is an answer too; another corpus version is another entry.
    await cache.put(RetrievalCache.key("v2", search), [], vector)
    assert await cache.get(RetrievalCache.key("v2", search)) == ([], pytest.approx(vector))
    assert 0 < await client.ttl(key) <= 60
    await client.aclose()


async def test_operators_see_and_drop_cache_entries_and_administrators_only_their_own(api):
    await _ask(api, "What time does the Tern ferry return?")
    held = (await api.get("/v1/admin/cache", headers=ADMIN)).json()
    assert held["tenant"] == "caches" and held["entries"]["answer"] >= 1 and held["entries"]["retrieval"] >= 1
    refused = await api.delete("/v1/admin/cache", headers=ADMIN, params={"tenant": "*"})
    assert refused.status_code == 403
    dropped = (await api.delete("/v1/admin/cache", headers=ADMIN)).json()
    assert dropped["entries"]["answer"] == held["entries"]["answer"]
    assert (await api.get("/v1/admin/cache", headers=ADMIN)).json()["entries"] == dict.fromkeys(
        ["answer", "semantic", "retrieval"], 0
    )
    # Dropped, so answered afresh; an operator may look at (and drop) every tenant's.
    assert (await _ask(api, "What time does the Tern ferry return?"))["cached"] is False
    everyone = (await api.get("/v1/admin/cache", headers=OPERATOR, params={"tenant": "*"})).json()
    assert everyone["tenant"] == "*" and everyone["entries"]["answer"] >= 1
    audit = (await api.get("/v1/admin/audit", headers=ADMIN)).json()["events"]
    assert audit[0]["action"] == "cache-dropped"


async def test_caches_can_live_on_a_redis_of_their_own(suite, tmp_path):
    """So that cache eviction can never touch rate limits and budgets: the answer lands in the caches' Redis."""
    with redis_server(tmp_path) as cache_url:
        settings = suite.gateway_settings(api_keys={"key-own-cache": "own-cache"}, cache_redis_url=cache_url)
        key = {"X-API-Key": "key-own-cache"}
        async with gateway(settings) as api:
            uploaded = await api.post(
                "/v1/documents", headers=key, files={"file": ("tern.md", DOCUMENT, "text/markdown")}
            )
            assert uploaded.status_code == 201, uploaded.text
            assert (await _ask(api, QUESTION, key))["cached"] is False
            assert (await _ask(api, QUESTION, key))["cached"] is True
            status = (await api.get("/v1/admin/status", headers=key)).json()["dependencies"]
            assert status["redis"] == status["cache-redis"] == "serving"
        caches, state = redis.from_url(cache_url), redis.from_url(suite.redis_url)
        assert await caches.keys("ragmesh:answer:own-cache:*") and not await state.keys("ragmesh:answer:own-cache:*")
        await caches.aclose()
        await state.aclose()
