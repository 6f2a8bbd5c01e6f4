"""Questions about the collection: recognised and answered from a checked plan counted over the catalogue (only the
documents the caller may see), on POST /v1/collection/ask and on /v1/query (streamed too, no model call); plans the
tenant's schema does not allow are refused by the gateway and by the ingest service itself before anything runs."""

import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from ragmesh.retriever.v1 import retriever_pb2
from tests.servers import gateway

ADMIN = {"X-API-Key": "key-shelf"}
TENANT = "shelf"
SCHEMA = {
    "fields": [
        {"name": "year", "type": "year", "aliases": ["published"]},
        {"name": "journal", "type": "keyword"},
        {"name": "topic", "type": "keywords"},
    ]
}
# name: (source, tags, attributes, readers)
DOCUMENTS = {
    "p1": ("journals", "oncology,trial", {"year": 2019, "journal": "Nature", "topic": ["oncology"]}, ""),
    "p2": ("journals", "oncology", {"year": 2021, "journal": "NEJM", "topic": ["oncology", "genetics"]}, ""),
    "p3": ("preprints", "cardiology", {"year": 2021, "journal": "BMJ", "topic": ["cardiology"]}, ""),
    "m1": ("manuals", "pumps", {}, ""),
    "secret": ("journals", "oncology", {"year": 2024, "journal": "Nature", "topic": ["oncology"]}, "alice"),
}


@pytest.fixture(scope="module")
async def api(suite):
    async with gateway(suite.gateway_settings(api_keys={"key-shelf": TENANT}, rate_limits={})) as client:
        assert (await client.put("/v1/metadata-schema", headers=ADMIN, json=SCHEMA)).status_code == 200
        for name, (source, tags, attributes, readers) in DOCUMENTS.items():
            body = f"# Paper {name}\n\nThe findings of study {name} on its subject.\n".encode()
            form = {"document_id": name, "source": source, "tags": tags, "attributes": json.dumps(attributes)}
            if readers:
                form["allowed_users"] = readers
            reply = await client.post(
                "/v1/documents", headers=ADMIN, data=form, files={"file": (f"{name}.md", body, "text/markdown")}
            )
            assert reply.status_code == 201, reply.text
        created = await client.post(
            "/v1/admin/keys", headers=ADMIN, json={"name": "bob", "scopes": ["query"], "user": "bob"}
        )
        client.bob = {"X-API-Key": created.json()["key"]}
        yield client


async def _ask(api, headers, **body):
    reply = await api.post("/v1/collection/ask", headers=headers, json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_counts_per_field_come_from_the_documents_the_caller_may_see(api):
    bob = await _ask(api, api.bob, question="How many papers per journal?")
    assert bob["columns"] == ["journal", "documents"] and bob["plan"]["group_by"] == [
        {"field": "journal", "bucket": None}
    ]
    assert sorted(map(tuple, bob["rows"])) == [("(none)", 1), ("BMJ", 1), ("NEJM", 1), ("Nature", 1)]
    assert bob["matched"] == 4 and bob["chart"]["kind"] == "bar"
    # The administrator sees alice's paper too.
    admin = await _ask(api, ADMIN, question="How many papers per journal?")
    assert ["Nature", 2] in admin["rows"] and admin["matched"] == 5


async def test_which_years_have_papers_tagged_oncology(api):
    found = await _ask(api, api.bob, question="Which years have papers tagged oncology?")
    assert found["plan"]["filters"] == {"tags": {"any_of": ["oncology"], "none_of": [], "gte": None, "lte": None}}
    assert found["rows"] == [["2019", 1], ["2021", 1]] and found["answer"].startswith("2 documents by year: 2019: 1")


async def test_time_windows_and_histograms_use_when_documents_arrived(api):
    month = datetime.now(UTC).strftime("%Y-%m")
    per_month = await _ask(api, api.bob, question="How many documents were added per month?")
    assert per_month["rows"] == [[month, 4]] and per_month["chart"] == {
        "kind": "line",
        "labels": [month],
        "series": [{"name": "documents", "values": [4]}],
    }
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = await _ask(api, api.bob, plan={"ingested_since": tomorrow})
    assert later["rows"] == [[0]] and later["matched"] == 0 and later["answer"] == "0 documents."


async def test_query_answers_a_collection_question_without_retrieval_or_a_model(api):
    body = {"question": "How many documents per source?"}
    answered = (await api.post("/v1/query", headers=api.bob, json=body)).json()
    assert answered["collection"]["rows"] == [["journals", 2], ["manuals", 1], ["preprints", 1]]
    assert answered["answer"].startswith("4 documents by source") and answered["citations"] == []
    assert answered["usage"]["model_calls"] == 0
    async with api.stream("POST", "/v1/query", headers=api.bob, json={**body, "stream": True}) as reply:
        lines = [line async for line in reply.aiter_lines()]
    done = json.loads(lines[lines.index("event: done") + 1].removeprefix("data: "))
    assert done["collection"]["rows"] == answered["collection"]["rows"]
    # A question about the contents is retrieval's, as before.
    content = (await api.post("/v1/query", headers=api.bob, json={"question": "What did study p2 find?"})).json()
    assert content["collection"] is None and content["citations"]


async def test_a_question_about_contents_is_not_a_collection_question(api):
    reply = await api.post(
        "/v1/collection/ask", headers=ADMIN, json={"question": "How many papers report that aspirin helps?"}
    )
    assert reply.status_code == 422 and "contents" in reply.json()["detail"]


INVALID_PLANS = [
    ({"group_by": [{"field": "colour"}]}, "unknown field 'colour'"),
    ({"group_by": [{"field": "journal", "bucket": "month"}]}, "buckets apply to ingested only"),
    ({"group_by": [{"field": "ingested"}]}, "needs a bucket"),
    ({"filters": {"journal": {"gte": 3}}}, "gte/lte apply to numeric fields"),
    ({"filters": {"ingested": {"any_of": ["x"]}}}, "ingested_since/until"),
    ({"filters": {"year": {"gte": 2022, "lte": 2020}}}, "gte 2022.0 is above lte 2020.0"),
    ({"filters": {"year": {}}}, "has no values"),
    ({"ingested_since": "2026-02-01T00:00:00Z", "ingested_until": "2026-01-01T00:00:00Z"}, "must come before"),
    ({"limit": 0}, "limit"),
    ({"group_by": [{"field": "year"}, {"field": "journal"}, {"field": "topic"}]}, "group_by"),
    ({"sql": "SELECT 1"}, "sql"),
    ({"group_by": [{"field": "year"}, {"field": "year"}]}, "'year' twice"),
]


@pytest.mark.parametrize(("plan", "reason"), INVALID_PLANS)
async def test_an_invalid_plan_is_refused_by_the_gateway(api, plan, reason):
    reply = await api.post("/v1/collection/ask", headers=ADMIN, json={"plan": plan})
    assert reply.status_code == 422 and reason in reply.json()["detail"]


async def test_no_invalid_plan_runs_in_the_ingest_service_either(api, suite):
    """The ingest service checks every plan itself: a caller past the gateway still runs none of these."""
    async with grpc.aio.insecure_channel(suite.ingest) as channel:
        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        for plan, reason in INVALID_PLANS:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await ingest.AggregateDocuments(
                    ingest_pb2.AggregateDocumentsRequest(
                        tenant=TENANT, viewer=retriever_pb2.Viewer(everything=True), plan_json=json.dumps(plan)
                    )
                )
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and reason in refused.value.details()
