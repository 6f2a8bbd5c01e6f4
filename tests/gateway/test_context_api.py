"""What the generator is shown: parent sections, compression to the sentences that matter within a token
budget, precise quotes with offsets into the source, ambiguity, and a reranker that is skipped unless set."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import httpx
import numpy as np
import pytest
from prometheus_client import REGISTRY

from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from ragmesh.suite import free_port
from services.generator.config import GeneratorSettings
from services.generator.server import create_server as create_generator
from services.ingest.extract import extract
from tests.conftest import CONTEXT
from tests.servers import gateway, running

EMBED = "/ragmesh.embedder.v1.EmbedderService/Embed"
# One section long enough to be cut into several chunks (800 characters each at most).
FERRY = (
    "# Ferry operations\n\n## Winter timetable\n\n"
    + " ".join(
        [
            "The Hallo ferry leaves Skarvik harbour at 07:15 on weekdays during the winter timetable.",
            "Crossings take forty minutes in calm weather.",
            "Tickets are sold on board and at the kiosk beside the pier.",
            "Bicycles travel free of charge on every crossing.",
            "The kiosk opens thirty minutes before the first departure.",
            "Dogs must be kept on a lead on the car deck.",
            "In storms the harbour master may cancel crossings at short notice.",
            "Cancellations are announced on the harbour noticeboard and by text message.",
            "Refunds for cancelled crossings are paid within five working days.",
            "The last crossing back to Skarvik leaves the island at 18:30.",
            "Season passes are sold for three, six and twelve months.",
            "Children under five travel free with a paying adult.",
        ]
        * 2
    )
    + "\n\n## Summer timetable\n\nIn summer the first ferry leaves at 06:00.\n"
)
TWIN = "The committee met on a Tuesday and discussed the budget for the coming season."
# Two minutes alike enough to match a vague question equally, different enough not to be one document's duplicate.
TWINS = {"minutes-a": TWIN, "minutes-b": TWIN.replace("a Tuesday", "a Thursday").replace("coming", "next")}


@pytest.fixture(scope="module")
async def ferry(api: httpx.AsyncClient):
    reply = await api.post(
        "/v1/documents",
        headers=CONTEXT,
        files={"file": ("ferry.md", FERRY.encode(), "text/markdown")},
        data={"document_id": "ferry"},
    )
    assert reply.status_code in (200, 201) and reply.json()["chunk_count"] >= 3, reply.text
    for name, text in TWINS.items():
        reply = await api.post(
            "/v1/documents",
            headers=CONTEXT,
            files={"file": (f"{name}.txt", text.encode(), "text/plain")},
            data={"document_id": name},
        )
        assert reply.status_code in (200, 201) and reply.json()["status"] != "duplicate", reply.text
    return FERRY


async def _ask(api: httpx.AsyncClient, question: str, **options) -> dict:
    reply = await api.post("/v1/query", headers=CONTEXT, json={"question": question, "generate": False, **options})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_a_hit_grows_to_its_whole_parent_section_once(api, ferry):
    body = await _ask(api, "When does the Hallo ferry leave Skarvik in winter?", compress=False, context_tokens=5000)
    first = body["citations"][0]
    assert first["document_id"] == "ferry" and first["heading_path"] == ["Ferry operations", "Winter timetable"]
    assert body["context"]["sections_expanded"] >= 1
    # The whole section, not one chunk of it, and each section once however many of its chunks were hit.
    assert "07:15" in first["text"] and first["text"].count("Season passes") == 2
    sections = [(c["document_id"], tuple(c["heading_path"])) for c in body["citations"]]
    assert len(sections) == len(set(sections))
    chunk_only = await _ask(api, "When does the Hallo ferry leave Skarvik in winter?", compress=False, expand="chunk")
    assert len(chunk_only["citations"][0]["text"]) < len(first["text"])
    assert chunk_only["context"]["sections_expanded"] == 0


async def test_compression_keeps_the_sentences_that_matter_within_the_budget(api, ferry):
    question = "When does the Hallo ferry leave Skarvik harbour in winter?"
    full = await _ask(api, question, compress=False, context_tokens=5000)
    compressed = await _ask(api, question, context_tokens=5000)
    stats = compressed["context"]
    assert stats["tokens"] < full["context"]["tokens"] and stats["tokens"] <= stats["tokens_before_compression"]
    assert stats["tokenizer"].startswith("text-completion-openai/gemma-3-270m")
    first = compressed["citations"][0]
    assert "07:15" in first["quote"] and "Dogs must be kept" not in first["text"]
    # Every quote is the document's extracted text at the offsets it gives.
    extracted = extract(FERRY.encode(), "text/markdown", "").text
    for quote in first["quotes"]:
        assert extracted[quote["char_start"] : quote["char_end"]] == quote["text"]
        assert quote["similarity"] is not None
        # ... and the API serves that text: a caller can check every quote and read around it.
        served = await api.get(
            "/v1/documents/ferry/text",
            headers=CONTEXT,
            params={"char_start": quote["char_start"], "char_end": quote["char_end"]},
        )
        assert served.status_code == 200 and served.json()["text"] == quote["text"], served.text
    tight = await _ask(api, question, context_tokens=50)
    assert tight["context"]["tokens"] <= 50 and "07:15" in tight["citations"][0]["text"]


async def test_compression_scores_sentences_with_the_vectors_stored_at_ingest(suite, api, ferry):
    """One Embed call a question (the question's): the sentences' vectors come with the chunks, and score each
    sentence as embedding it now would."""
    question = "How long does a crossing on the Hallo ferry take when the sea is calm?"
    embeds = REGISTRY.get_sample_value("ragmesh_grpc_server_handled_total", {"method": EMBED, "code": "OK"}) or 0
    body = await _ask(api, question, context_tokens=5000)
    after = REGISTRY.get_sample_value("ragmesh_grpc_server_handled_total", {"method": EMBED, "code": "OK"})
    assert after - embeds == 1
    quotes = [quote for citation in body["citations"] for quote in citation["quotes"]]
    assert any("forty minutes" in quote["text"] for quote in quotes)
    async with grpc.aio.insecure_channel(suite.embedder) as channel:
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        asked = await stub.Embed(embedder_pb2.EmbedRequest(texts=[question], kind=embedder_pb2.INPUT_KIND_QUERY))
        fresh = await stub.Embed(
            embedder_pb2.EmbedRequest(texts=[q["text"] for q in quotes], kind=embedder_pb2.INPUT_KIND_DOCUMENT)
        )
    query = np.asarray(asked.vectors[0].values)
    for quote, vector in zip(quotes, fresh.vectors, strict=True):
        assert quote["similarity"] == pytest.approx(float(query @ np.asarray(vector.values)), abs=2e-3)


async def test_the_document_text_endpoint_serves_the_text_offsets_point_into(api, ferry):
    whole = await api.get("/v1/documents/ferry/text", headers=CONTEXT)
    assert whole.status_code == 200, whole.text
    body = whole.json()
    extracted = extract(FERRY.encode(), "text/markdown", "").text
    assert body["text"] == extracted and body["total_chars"] == len(extracted)
    headings = [tuple(s["heading_path"]) for s in body["sections"]]
    assert headings == [("Ferry operations", "Winter timetable"), ("Ferry operations", "Summer timetable")]
    summer = body["sections"][1]
    assert extracted[summer["char_start"] : summer["char_end"]] == "In summer the first ferry leaves at 06:00."
    for params, status, message in [
        ({"char_start": 10, "char_end": 5}, 422, "must not be before"),
        ({"char_end": len(extracted) + 1}, 422, "fall outside the text"),
        ({"char_start": -1}, 422, "greater than or equal to 0"),
    ]:
        reply = await api.get("/v1/documents/ferry/text", headers=CONTEXT, params=params)
        assert reply.status_code == status and message in reply.text, reply.text
    missing = await api.get("/v1/documents/no-such-doc/text", headers=CONTEXT)
    assert missing.status_code == 404 and "not found" in missing.text
    assert (await api.get("/v1/documents/ferry/text")).status_code == 401


async def test_the_llm_extractor_keeps_the_sentences_the_model_names(suite, api, ferry):
    question = "When does the Hallo ferry leave Skarvik harbour in winter?"
    # The suite's generator writes prose, not the JSON asked for: similarity compresses instead.
    fallback = await _ask(api, question, compress_method="llm", context_tokens=5000)
    assert fallback["context"]["compression"] == "similarity" and "compress_llm" in fallback["timings_ms"]
    # An answer with a stage that fell back is not cached: the next ask tries the whole pipeline again.
    again = await _ask(api, question, compress_method="llm", context_tokens=5000)
    assert again["cached"] is False and "compress_llm" in again["timings_ms"]
    assert (await _ask(api, question, context_tokens=5000))["context"]["compression"] == "similarity"
    assert (await _ask(api, question, compress=False))["context"]["compression"] == ""
    # A model that names sentence 1 (LiteLLM's mock for the paid-API boundary): that sentence alone is kept.
    llm = GeneratorSettings(mock_response='{"sentences": [1]}')
    async with running(create_generator(llm)) as target, gateway(suite.gateway_settings(generator_target=target)) as g:
        reply = await g.post(
            "/v1/query",
            headers=CONTEXT,
            json={"question": question, "generate": False, "compress_method": "llm", "context_tokens": 5000},
        )
        body = reply.json()
        assert reply.status_code == 200 and body["context"]["compression"] == "llm", reply.text
        assert [c["document_id"] for c in body["citations"]] == ["ferry"]
        (quote,) = body["citations"][0]["quotes"]
        assert quote["text"].startswith("The Hallo ferry leaves Skarvik harbour at 07:15")
        assert body["context"]["tokens"] < fallback["context"]["tokens"]
    # A number that is not in the context is off the schema: refused by the generator, similarity instead.
    llm = GeneratorSettings(mock_response='{"sentences": [999]}')
    async with running(create_generator(llm)) as target, gateway(suite.gateway_settings(generator_target=target)) as g:
        reply = await g.post(
            "/v1/query",
            headers=CONTEXT,
            json={"question": question, "generate": False, "compress_method": "llm", "context_tokens": 4999},
        )
        assert reply.json()["context"]["compression"] == "similarity"
        assert reply.json()["citations"][0]["quotes"] == fallback["citations"][0]["quotes"]
    bad = await api.post("/v1/query", headers=CONTEXT, json={"question": question, "compress_method": "magic"})
    assert bad.status_code == 422 and "compress_method" in bad.text


async def test_documents_matching_equally_and_weakly_are_flagged_as_confusing(api, ferry):
    body = await _ask(api, "What happened at the meeting?", compress=False)
    assert {c["document_id"] for c in body["citations"][:2]} == {"minutes-a", "minutes-b"}
    assert body["is_confused"] is True
    clear = await _ask(api, "When does the Hallo ferry leave Skarvik harbour in winter?")
    assert clear["is_confused"] is False


async def test_without_a_reranker_the_stage_is_skipped(api, ferry):
    body = await _ask(api, "When does the Hallo ferry leave Skarvik in winter?")
    assert body["context"]["reranked"] is False and "rerank" not in body["timings_ms"]


async def test_an_unreachable_reranker_keeps_the_retrievers_order(suite, ferry, api):
    expected = await _ask(api, "When does the Hallo ferry leave Skarvik in winter?")
    settings = suite.gateway_settings(reranker_url=f"http://127.0.0.1:{free_port()}", reranker_timeout_seconds=1)
    async with gateway(settings) as other:
        # A budget no earlier ask used, so the answer cache cannot hide the reranker's failure.
        body = await _ask(other, "When does the Hallo ferry leave Skarvik in winter?", context_tokens=777)
        assert body["cached"] is False and "rerank" not in body["timings_ms"]
        # Served, but not cached: once the reranker is back, the next ask uses it.
        again = await _ask(other, "When does the Hallo ferry leave Skarvik in winter?", context_tokens=777)
        assert again["cached"] is False
    assert body["context"]["reranked"] is False
    assert [c["document_id"] for c in body["citations"]] == [c["document_id"] for c in expected["citations"]]


class _HtmlReranker(BaseHTTPRequestHandler):
    """A reranker behind a proxy that answers 200 with an HTML error page."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads the gateway's answer, not the access log."""


async def test_a_reranker_answering_garbage_falls_back_like_one_that_is_down(suite, ferry, api):
    expected = await _ask(api, "When does the Hallo ferry leave Skarvik in winter?")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlReranker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = suite.gateway_settings(reranker_url=f"http://127.0.0.1:{server.server_port}")
        async with gateway(settings) as other:
            body = await _ask(other, "When does the Hallo ferry leave Skarvik in winter?", context_tokens=778)
    finally:
        server.shutdown()
    assert body["context"]["reranked"] is False and body["cached"] is False
    assert [c["document_id"] for c in body["citations"]] == [c["document_id"] for c in expected["citations"]]


async def test_sentence_token_counts_are_kept_so_a_passage_seen_again_costs_no_count(api, ferry):
    """The generator counts a sentence's tokens once: a second question over the same passages asks it nothing,
    and the counts (the context's tokens) are the same."""
    count = {"method": "/ragmesh.generator.v1.GeneratorService/CountTokens", "code": "OK"}
    before = REGISTRY.get_sample_value("ragmesh_grpc_server_handled_total", count) or 0
    first = await _ask(api, "When does the first Hallo ferry leave on Sundays?", compress=False)
    between = REGISTRY.get_sample_value("ragmesh_grpc_server_handled_total", count) or 0
    again = await _ask(api, "On Sundays, when does the first Hallo ferry leave?", compress=False)
    after = REGISTRY.get_sample_value("ragmesh_grpc_server_handled_total", count) or 0
    assert between - before <= 1 and after == between
    assert again["context"]["tokens"] == first["context"]["tokens"] > 0


async def _short_document(api: httpx.AsyncClient, document_id: str, text: str) -> None:
    """A one-section document of the context tenant, its one chunk the whole section."""
    reply = await api.post(
        "/v1/documents",
        headers=CONTEXT,
        files={"file": (f"{document_id}.md", text.encode(), "text/markdown")},
        data={"document_id": document_id},
    )
    assert reply.status_code in (200, 201), reply.text


async def test_the_hits_sentences_are_counted_while_their_sections_are_fetched(api, ferry):
    """A passage's tokens are counted as soon as the search returns, beside the parent-section call: when the
    section is the hit itself, compression finds every sentence counted and asks the generator nothing more."""
    await _short_document(
        api,
        "varne",
        "# Lighthouse keepers\n\nThe Varne lighthouse keeper rows out every Tuesday. She logs the tides by hand.\n",
    )
    body = await _ask(api, "When does the Varne lighthouse keeper row out?", compress=False)
    assert body["citations"][0]["document_id"] == "varne"
    assert body["timings_ms"]["count_tokens_ahead"] > 0 and "count_tokens" not in body["timings_ms"]
    alone = await _ask(api, "When does the Varne lighthouse keeper row out?", compress=False, expand="chunk")
    assert alone["context"]["tokens"] == body["context"]["tokens"] > 0


async def test_a_hit_that_is_its_whole_section_is_not_fetched_again(api, ferry):
    """Parent sections are asked for only when a hit's section holds more than the hit (the ferry timetable);
    a short document's one chunk is its section already."""
    sections = {"method": "/ragmesh.retriever.v1.RetrieverService/GetSections", "code": "OK"}
    await _short_document(
        api, "ostry", "# Bell tower\n\nThe Ostry bell tower rings at noon and at six in the evening.\n"
    )
    before = REGISTRY.get_sample_value("ragmesh_grpc_server_handled_total", sections) or 0
    body = await _ask(api, "When does the Ostry bell tower ring?", compress=False, top_k=1)
    assert body["citations"][0]["document_id"] == "ostry" and "noon" in body["citations"][0]["text"]
    assert (REGISTRY.get_sample_value("ragmesh_grpc_server_handled_total", sections) or 0) == before
    grown = await _ask(api, "When does the Hallo ferry leave Skarvik in winter?", compress=False, top_k=1)
    assert grown["context"]["sections_expanded"] == 1
    assert REGISTRY.get_sample_value("ragmesh_grpc_server_handled_total", sections) == before + 1
