"""The public API end to end: real gateway, real services, real Redis; LiteLLM's mock at the LLM boundary."""

import json

import grpc
import httpx
import pytest
import redis.asyncio as redis

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from ragmesh.suite import free_port
from services.gateway.models import QueryRequest
from services.gateway.query.caches import AnswerCache
from services.generator.prompts import PROMPT_VERSION
from services.runtime.access import Viewer
from tests.conftest import ACME, GLOBEX, MOCK_ANSWER
from tests.gateway.documents import ACME_DOCS, GLOBEX_DOCS
from tests.servers import gateway


async def _upload(api: httpx.AsyncClient, headers, name: str, spec) -> httpx.Response:
    content_type, content, fields = spec
    return await api.post("/v1/documents", headers=headers, files={"file": (name, content, content_type)}, data=fields)


@pytest.fixture(scope="module")
async def corpus(api):
    """Both tenants' documents, ingested once through the public API."""
    ids: dict[str, str] = {}
    for headers, docs in ((ACME, ACME_DOCS), (GLOBEX, GLOBEX_DOCS)):
        for name, spec in docs.items():
            reply = await _upload(api, headers, name, spec)
            assert reply.status_code in (200, 201), reply.text
            ids[name] = reply.json()["document_id"]
    return ids


async def test_health_and_readiness(api, corpus):
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    assert (await api.get("/readyz")).json() == {"ready": True}
    status = (await api.get("/v1/admin/status", headers=ACME)).json()
    assert status["dependencies"] == dict.fromkeys(["embedder", "retriever", "generator", "ingest", "redis"], "serving")
    assert status["breakers"] == dict.fromkeys(["embedder", "retriever", "generator", "ingest"], "closed")
    assert (await api.get("/v1/admin/status")).status_code == 401


async def test_every_format_ingests_into_chunks(api, corpus):
    listed = (await api.get("/v1/documents", headers=ACME)).json()
    by_name = {d["filename"]: d for d in listed["documents"]}
    assert listed["total"] == 4 and set(by_name) == set(ACME_DOCS)
    assert by_name["kestrel.md"]["chunk_count"] == 2  # one chunk per section
    assert by_name["kestrel.md"]["metadata"] == {
        "title": "Kestrel security handbook",
        "source": "handbook",
        "tags": ["policy", "security"],
        "licence": "internal",
        "attributes": {},
        "allowed_users": [],
        "allowed_groups": [],
        "allowed_uses": [],
    }
    assert by_name["orvane.html"]["metadata"]["title"] == "Mount Orvane"
    assert by_name["tides.pdf"]["content_type"] == "application/pdf" and by_name["tides.pdf"]["chunk_count"] == 1
    one = await api.get(f"/v1/documents/{corpus['bread.txt']}", headers=ACME)
    assert one.status_code == 200 and one.json()["content_type"] == "text/plain"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How often do Kestrel API keys have to be rotated?", "kestrel.md"),
        ("When did Mount Orvane last erupt?", "orvane.html"),
        ("What should I feed the sourdough starter?", "bread.txt"),
        ("What is the spring tide range at Marrow Bay?", "tides.pdf"),
    ],
)
async def test_answers_cite_the_document_that_holds_the_answer(api, corpus, question, expected):
    reply = await api.post("/v1/query", headers=ACME, json={"question": question})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["answer"] == MOCK_ANSWER and body["no_context"] is False and body["degraded"] is False
    first = body["citations"][0]
    assert first["cited"] and first["index"] == 1 and first["document_id"] == corpus[expected]
    assert first["quote"] and first["quote"] in first["text"] and first["score"] > 0.3
    assert 0 < body["confidence"] <= 1
    assert body["usage"]["completion_tokens"] > 0 and set(body["timings_ms"]) >= {"embed", "retrieve", "generate"}


async def test_tenants_never_see_each_others_documents(api, corpus):
    globex_ids = {corpus["nightjar.md"]}
    body = (
        await api.post(
            "/v1/query", headers=ACME, json={"question": "What is the Nightjar launch passphrase?", "top_k": 50}
        )
    ).json()
    assert not {c["document_id"] for c in body["citations"]} & globex_ids
    assert "saffron" not in json.dumps(body)
    # Even a question that matches both tenants' words only ever returns the asker's documents.
    body = (
        await api.post("/v1/query", headers=GLOBEX, json={"question": "How often are API keys rotated?", "top_k": 50})
    ).json()
    assert {c["document_id"] for c in body["citations"]} == globex_ids
    assert (await api.get(f"/v1/documents/{corpus['kestrel.md']}", headers=GLOBEX)).status_code == 404
    assert (await api.get("/v1/documents", headers=GLOBEX)).json()["total"] == 1


async def test_filters_restrict_the_evidence(api, corpus):
    body = (
        await api.post(
            "/v1/query",
            headers=ACME,
            json={"question": "When did Mount Orvane last erupt?", "filters": {"tags": ["ocean"]}},
        )
    ).json()
    assert {c["document_id"] for c in body["citations"]} <= {corpus["tides.pdf"]}


async def test_a_question_the_corpus_cannot_answer_gets_no_context_and_no_llm_call(api, corpus):
    body = (
        await api.post("/v1/query", headers=ACME, json={"question": "Who won the 1954 football world cup final?"})
    ).json()
    assert body["no_context"] is True and body["citations"] == []
    assert body["model"] == "" and body["usage"]["completion_tokens"] == 0 and "generate" not in body["timings_ms"]
    assert body["confidence"] == 0


async def test_retrieval_only_returns_citations_without_calling_the_llm(api, corpus):
    body = (
        await api.post(
            "/v1/query", headers=ACME, json={"question": "When did Mount Orvane last erupt?", "generate": False}
        )
    ).json()
    assert body["answer"] == "" and body["model"] == "" and "generate" not in body["timings_ms"]
    assert body["citations"][0]["document_id"] == corpus["orvane.html"] and body["no_context"] is False


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"mode": "sparse"},
        {"mode": "dense"},
        {"fusion": "dbsf"},
        {"mmr_lambda": 0.5},
        {"dense_weight": 2, "rrf_k": 10},
    ],
)
async def test_search_ranks_the_tenants_passages_without_thresholds(api, corpus, options):
    reply = await api.post("/v1/search", headers=ACME, json={"query": "volcano eruption 1872", "top_k": 100, **options})
    assert reply.status_code == 200, reply.text
    hits = reply.json()["hits"]
    assert hits[0]["document_id"] == corpus["orvane.html"]
    # With the dense side, everything the tenant has comes back, weak matches included (BM25 alone returns
    # only passages sharing a term); never anything of the other tenant.
    assert len(hits) >= (1 if options.get("mode") == "sparse" else 6)
    assert corpus["nightjar.md"] not in {h["document_id"] for h in hits}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"query": "x", "top_k": 101}, "top_k must be between 1 and 100"),
        ({"query": "x", "mmr_lambda": 2}, "less than or equal to 1"),
        ({"query": "x", "fusion": "borda"}, "Input should be 'rrf' or 'dbsf'"),
        ({"query": "x", "mode": "sparse", "mmr_lambda": 0.5}, "mmr_lambda needs the dense vector"),
        ({"query": " "}, "question is empty"),
    ],
)
async def test_bad_searches_are_422(api, corpus, body, detail):
    reply = await api.post("/v1/search", headers=ACME, json=body)
    assert reply.status_code == 422 and detail in json.dumps(reply.json())


async def test_streamed_answer_sends_tokens_then_citations_then_done(api, corpus):
    events: list[tuple[str, str]] = []
    async with api.stream(
        "POST", "/v1/query", headers=ACME, json={"question": "When did Mount Orvane last erupt?", "stream": True}
    ) as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        event = None
        async for line in reply.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event:
                events.append((event, line.split(":", 1)[1].strip()))
    kinds = [kind for kind, _ in events]
    assert kinds[-2:] == ["citations", "done"] and set(kinds[:-2]) == {"token"} and len(kinds) > 3
    text = "".join(json.loads(data)["text"] for kind, data in events if kind == "token")
    done = json.loads(events[-1][1])
    assert text == done["answer"] == MOCK_ANSWER
    assert json.loads(events[-2][1])[0]["document_id"] == corpus["orvane.html"]
    # The wait for the first text, and the model's own part of it, as the generator measured it.
    timings = done["timings_ms"]
    assert 0 < timings["model_first_text"] <= timings["first_text"] <= timings["generate"]


async def test_answers_are_cached_until_the_corpus_changes(api, corpus):
    question = {"question": "Where do I report a suspected breach?"}
    first = (await api.post("/v1/query", headers=ACME, json=question)).json()
    second = (await api.post("/v1/query", headers=ACME, json=question)).json()
    assert first["cached"] is False and second["cached"] is True
    assert second["citations"] == first["citations"]
    added = await _upload(api, ACME, "extra.md", ("text/markdown", b"# Extra\n\nBreaches also go to the CISO.\n", {}))
    assert added.status_code == 201
    third = (await api.post("/v1/query", headers=ACME, json=question)).json()
    assert third["cached"] is False
    await api.delete(f"/v1/documents/{added.json()['document_id']}", headers=ACME)


async def test_reingesting_the_same_file_changes_nothing(api, corpus):
    reply = await _upload(api, ACME, "bread.txt", ACME_DOCS["bread.txt"])
    assert reply.status_code == 200 and reply.json() == {
        "document_id": corpus["bread.txt"],
        "chunk_count": 1,
        "status": "unchanged",
    }


async def test_delete_removes_the_document_and_its_chunks_from_answers(api, corpus):
    added = await _upload(
        api, ACME, "comet.md", ("text/markdown", b"# Comet Ilsa\n\nComet Ilsa returns every 212 years.\n", {})
    )
    document_id = added.json()["document_id"]
    question = {"question": "How often does Comet Ilsa return?"}
    before = (await api.post("/v1/query", headers=ACME, json=question)).json()
    assert before["citations"][0]["document_id"] == document_id
    deleted = await api.delete(f"/v1/documents/{document_id}", headers=ACME)
    assert deleted.status_code == 200 and deleted.json() == {"document_id": document_id, "chunks_deleted": 1}
    after = (await api.post("/v1/query", headers=ACME, json=question)).json()
    assert document_id not in {c["document_id"] for c in after["citations"]}
    assert (await api.get(f"/v1/documents/{document_id}", headers=ACME)).status_code == 404
    assert (await api.delete(f"/v1/documents/{document_id}", headers=ACME)).status_code == 404


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({}, 401, "missing API key"),
        ({"X-API-Key": "nope"}, 401, "invalid API key"),
        ({"Authorization": "Bearer nope"}, 401, "invalid API key"),
    ],
)
async def test_requests_without_a_valid_key_are_401(api, headers, status, detail):
    for reply in (
        await api.post("/v1/query", headers=headers, json={"question": "hi"}),
        await api.get("/v1/documents", headers=headers),
    ):
        assert reply.status_code == status and detail in reply.json()["detail"]


async def test_a_bearer_token_works_like_the_key_header(api, corpus):
    reply = await api.get("/v1/documents", headers={"Authorization": "Bearer key-acme"})
    assert reply.status_code == 200 and reply.json()["total"] >= 4


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"question": ""}, "question is empty"),
        ({"question": " \x00\x07 "}, "question is empty"),
        ({"question": "x" * 2001}, "the limit is 2000"),
        ({"question": "hi", "top_k": 0}, "top_k must be between 1 and 50"),
        ({"question": "hi", "top_k": 51}, "top_k must be between 1 and 50"),
        ({"question": "hi", "filters": {"colour": "red"}}, "unknown filter field 'colour'"),
        ({"question": "hi", "mode": "psychic"}, "Input should be 'hybrid', 'dense' or 'sparse'"),
        ({"top_k": 3}, "Field required"),
        # The tenant comes from the credential only: a body that names one is refused, not silently ignored.
        ({"question": "hi", "tenant": "globex"}, "Extra inputs are not permitted"),
        ({"question": "hi", "filters": {"tags": {"any_of": ["a"], "all_of": ["b"]}}}, "all_of"),
    ],
)
async def test_bad_questions_are_422_with_the_reason(api, corpus, body, detail):
    reply = await api.post("/v1/query", headers=ACME, json=body)
    assert reply.status_code == 422
    assert detail in json.dumps(reply.json())


@pytest.mark.parametrize(
    ("name", "content", "content_type", "status", "detail"),
    [
        ("virus.exe", b"MZ\x90\x00", "application/x-msdownload", 415, "is not supported"),
        ("broken.pdf", b"%PDF-1.4 not really", "application/pdf", 422, "the PDF could not be read"),
        ("fake.pdf", b"hello", "application/pdf", 422, "not a PDF"),
        ("blank.md", b"  \n \n", "text/markdown", 422, "no text could be extracted"),
        ("empty.txt", b"", "text/plain", 422, "the document is empty"),
        ("latin1.txt", "café crème".encode("latin-1"), "text/plain", 422, "not valid"),
    ],
)
async def test_bad_files_get_a_clear_4xx_and_nothing_is_stored(
    api, corpus, name, content, content_type, status, detail
):
    before = (await api.get("/v1/documents", headers=ACME)).json()["total"]
    reply = await api.post("/v1/documents", headers=ACME, files={"file": (name, content, content_type)})
    assert reply.status_code == status and detail in reply.json()["detail"]
    assert (await api.get("/v1/documents", headers=ACME)).json()["total"] == before


async def test_an_upload_over_the_size_limit_is_413(suite, corpus):
    async with gateway(suite.gateway_settings(max_upload_bytes=1024)) as small:
        reply = await small.post(
            "/v1/documents", headers=ACME, files={"file": ("big.txt", b"word " * 1000, "text/plain")}
        )
        assert reply.status_code == 413 and "limit" in reply.json()["detail"]


async def test_an_unknown_document_is_404(api, corpus):
    for reply in (
        await api.get("/v1/documents/doc_missing", headers=ACME),
        await api.delete("/v1/documents/doc_missing", headers=ACME),
    ):
        assert reply.status_code == 404 and "not found" in reply.json()["detail"]


async def test_without_a_generator_the_answer_degrades_to_cited_passages(suite, corpus):
    async with gateway(
        suite.gateway_settings(generator_target=f"127.0.0.1:{free_port()}", generation_timeout_seconds=3)
    ) as api:
        # The replica still serves (readiness), and operators see which dependency is down.
        assert (await api.get("/readyz")).status_code == 200
        status = (await api.get("/v1/admin/status", headers=ACME)).json()
        assert status["dependencies"]["generator"].startswith("unreachable")
        body = (
            await api.post("/v1/query", headers=ACME, json={"question": "When did Mount Orvane last erupt?"})
        ).json()
        assert body["degraded"] is True and body["no_context"] is False
        assert body["citations"][0]["document_id"] == corpus["orvane.html"]
        streamed = await api.post(
            "/v1/query", headers=ACME, json={"question": "When did Mount Orvane last erupt?", "stream": True}
        )
        assert streamed.status_code == 200 and '"degraded":true' in streamed.text


@pytest.mark.parametrize(
    "path",
    [
        "/v1/documents?offset=99999999999999",
        "/v1/documents?offset=-1",
        "/v1/documents?limit=0",
        "/v1/documents?limit=501",
        "/v1/documents/any/text?char_start=99999999999999",
        "/v1/documents/any/text?char_start=5&char_end=2",
    ],
)
async def test_out_of_range_paging_and_slices_are_422(api, corpus, path):
    reply = await api.get(path, headers=ACME)
    assert reply.status_code == 422, reply.text


async def test_cached_answers_follow_the_generators_prompt_version(api, corpus, suite):
    """The cache key holds the prompt version the generator reports, not a copy kept by the gateway."""
    question = {"question": "How long may a Kestrel session stay idle?"}
    first = (await api.post("/v1/query", headers=ACME, json=question)).json()
    assert first["prompt_version"] == PROMPT_VERSION
    client = redis.from_url(suite.redis_url)
    async with grpc.aio.insecure_channel(suite.ingest) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        version = (await stub.GetCorpusVersion(ingest_pb2.GetCorpusVersionRequest(tenant="acme"))).version
    assert version and version != "0"
    request = QueryRequest(**question)
    current = AnswerCache.key("acme", Viewer(everything=True), version, question["question"], request, PROMPT_VERSION)
    changed = AnswerCache.key(
        "acme", Viewer(everything=True), version, question["question"], request, PROMPT_VERSION + "-next"
    )
    assert await client.exists(current) == 1 and await client.exists(changed) == 0
    await client.aclose()


async def test_openapi_documents_every_route(api):
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert {
        "/v1/query",
        "/v1/search",
        "/v1/verify",
        "/v1/documents",
        "/v1/documents/{document_id}",
        "/v1/documents/{document_id}/text",
        "/v1/metadata-schema",
        "/v1/admin/keys",
        "/v1/admin/keys/{key_id}",
        "/v1/admin/audit",
        "/healthz",
        "/readyz",
    } <= set(paths)
    # Metrics are for administrators (and for Prometheus on the metrics port), not the public.
    assert (await api.get("/metrics")).status_code == 401
    assert (await api.get("/metrics", headers=ACME)).status_code == 200


async def test_docs_can_be_turned_off_for_production(suite):
    async with gateway(suite.gateway_settings(docs_enabled=False)) as closed:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await closed.get(path)).status_code == 404, path
        assert (await closed.get("/healthz")).status_code == 200
