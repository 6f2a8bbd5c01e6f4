"""The learning loop's records, end to end on the real suite: every answer (query, stream, search, verify) gets an
answer id and a record of what produced it; the asker gives feedback; low-confidence, confused and disliked answers
wait in the review queue, where a reviewer's label makes a verified example."""

import asyncio
import json
import re

import boto3
import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from ragmesh import cli
from services.gateway.records.database import Database
from services.gateway.records.models import Interaction
from tests.servers import gateway, streamed_answer

ADMIN = {"X-API-Key": "key-learning-admin"}
HASHED_ADMIN = {"X-API-Key": "key-learning-hashed"}
DOCUMENT = (
    b"# Heron ferries\n\nThe Heron ferry leaves Port Alba at 06:40 every weekday in winter.\n\n"
    b"## Tickets\n\nTickets are sold on board and cost four euros.\n"
)
QUESTION = "When does the Heron ferry leave Port Alba?"
ANSWER_ID = re.compile(r"^ans_[0-9a-f]{32}$")


async def _user_key(api: httpx.AsyncClient, user: str) -> dict[str, str]:
    created = await api.post("/v1/admin/keys", headers=ADMIN, json={"name": user, "scopes": ["query"], "user": user})
    assert created.status_code == 201, created.text
    return {"X-API-Key": created.json()["key"]}


@pytest.fixture(scope="module")
async def learning(suite):
    settings = suite.gateway_settings(
        api_keys={"key-learning-admin": "learning", "key-learning-hashed": "learning-hashed"},
        interaction_hashed_tenants=["learning-hashed"],
        rate_limits={},
    )
    async with gateway(settings) as api:
        for headers in (ADMIN, HASHED_ADMIN):
            uploaded = await api.post(
                "/v1/documents", headers=headers, files={"file": ("heron.md", DOCUMENT, "text/markdown")}
            )
            assert uploaded.status_code == 201, uploaded.text
        database = Database(settings.database)
        yield api, database, await _user_key(api, "alice"), await _user_key(api, "bob")
        await database.close()


async def _record(database: Database, answer_id: str) -> Interaction:
    async with database.session() as session:
        return await session.scalar(select(Interaction).where(Interaction.id == answer_id))


async def test_every_answer_gets_an_id_and_a_record_of_what_produced_it(learning):
    api, database, alice, _ = learning
    first = (await api.post("/v1/query", headers=alice, json={"question": QUESTION})).json()
    again = (await api.post("/v1/query", headers=alice, json={"question": QUESTION})).json()
    assert ANSWER_ID.match(first["answer_id"]) and again["cached"] is True
    assert again["answer_id"] != first["answer_id"]  # a cached answer is a new answer to a new request
    _, streamed = await streamed_answer(api, alice, {"question": "Where are Heron tickets sold?"})
    searched = (await api.post("/v1/search", headers=alice, json={"query": "Heron tickets"})).json()
    checked = (await api.post("/v1/verify", headers=alice, json={"claim": "Heron tickets cost four euros."})).json()

    record = await _record(database, first["answer_id"])
    await api.get("/v1/admin/reviews", headers=ADMIN)  # waits for the queued records
    record = await _record(database, first["answer_id"])
    assert record.tenant == "learning" and record.route == "query" and record.question == QUESTION
    assert record.user and "alice" not in record.user and len(record.user) == 32
    assert record.answer == first["answer"] and record.confidence == pytest.approx(first["confidence"])
    assert [(p["document_id"], p["chunk_index"], p["cited"]) for p in record.passages] == [
        (c["document_id"], c["chunk_index"], c["cited"]) for c in first["citations"]
    ]
    assert record.model == first["model"] and record.prompt_version == first["prompt_version"]
    assert record.cached == "" and (await _record(database, again["answer_id"])).cached == "exact"
    assert set(record.timings_ms) == set(first["timings_ms"])
    assert (await _record(database, streamed["answer_id"])).route == "query"
    assert (await _record(database, searched["answer_id"])).passages[0]["index"] == 1
    verified = await _record(database, checked["answer_id"])
    assert verified.route == "verify" and verified.answer == (checked["verdict"] or "")


async def test_a_tenant_may_keep_only_the_hash_of_its_questions(learning):
    api, database, _, _ = learning
    first = (await api.post("/v1/query", headers=HASHED_ADMIN, json={"question": QUESTION})).json()
    await api.get("/v1/admin/reviews", headers=HASHED_ADMIN)
    record = await _record(database, first["answer_id"])
    assert record.question is None and len(record.question_hash) == 64
    assert QUESTION not in str(record.filters) + str(record.passages) + record.answer


async def test_feedback_is_the_askers_own_and_names_real_passages(learning):
    api, _, alice, bob = learning
    answer = (await api.post("/v1/query", headers=alice, json={"question": "How much is a Heron ticket?"})).json()
    url = f"/v1/answers/{answer['answer_id']}/feedback"

    given = await api.post(url, headers=alice, json={"thumb": "down", "relevant": [1], "comment": "too vague"})
    assert given.status_code == 201, given.text
    assert given.json()["thumb"] == "down" and given.json()["relevant"] == [1]
    assert (await api.post(url, headers=alice, json={"rating": 4})).status_code == 201

    # Someone else's answer is as good as none; an admin of the tenant may speak for any.
    assert (await api.post(url, headers=bob, json={"thumb": "up"})).status_code == 404
    assert (await api.post(url, headers=ADMIN, json={"thumb": "up"})).status_code == 201
    assert (await api.post(url, headers=HASHED_ADMIN, json={"thumb": "up"})).status_code == 404

    bad = await api.post(url, headers=alice, json={"relevant": [99]})
    assert bad.status_code == 422 and "no passage [99]" in bad.text
    for body, reason in [
        ({}, "give a thumb"),
        ({"thumb": "sideways"}, "thumb"),
        ({"rating": 6}, "rating"),
        ({"relevant": [1], "not_relevant": [1]}, "both relevant and not relevant"),
        ({"thumb": "up", "extra": 1}, "extra"),
    ]:
        refused = await api.post(url, headers=alice, json=body)
        assert refused.status_code == 422 and reason in refused.text, (body, refused.text)
    assert (await api.post("/v1/answers/ans_nope/feedback", headers=alice, json={"thumb": "up"})).status_code == 422
    unknown = f"/v1/answers/ans_{'0' * 32}/feedback"
    assert (await api.post(unknown, headers=alice, json={"thumb": "up"})).status_code == 404


async def test_the_review_queue_holds_weak_and_disliked_answers_until_a_reviewer_labels_them(learning):
    api, _, alice, _ = learning
    liked = (await api.post("/v1/query", headers=alice, json={"question": "When does the Heron ferry sail?"})).json()
    await api.post(f"/v1/answers/{liked['answer_id']}/feedback", headers=alice, json={"thumb": "up"})
    disliked = (await api.post("/v1/query", headers=alice, json={"question": "Heron ferry winter times?"})).json()
    await api.post(f"/v1/answers/{disliked['answer_id']}/feedback", headers=alice, json={"thumb": "down"})
    weak = (await api.post("/v1/query", headers=alice, json={"question": "Which glue holds violins together?"})).json()
    assert weak["confidence"] < 0.6

    queue = (await api.get("/v1/admin/reviews", headers=ADMIN, params={"limit": 500})).json()
    reasons = {item["answer_id"]: item["reasons"] for item in queue["items"]}
    assert "negative_feedback" in reasons[disliked["answer_id"]]
    assert "low_confidence" in reasons[weak["answer_id"]]
    assert liked["answer_id"] not in reasons or liked["confidence"] < 0.6
    item = next(i for i in queue["items"] if i["answer_id"] == disliked["answer_id"])
    assert item["question"] == "Heron ferry winter times?" and item["feedback"][0]["thumb"] == "down"
    # Only the tenant's own answers, and only for its admins.
    assert disliked["answer_id"] not in str((await api.get("/v1/admin/reviews", headers=HASHED_ADMIN)).json())
    assert (await api.get("/v1/admin/reviews", headers=alice)).status_code == 403

    label_url = f"/v1/admin/reviews/{disliked['answer_id']}/label"
    missing = {"document_id": disliked["citations"][0]["document_id"], "chunk_index": 7}
    labelled = await api.post(label_url, headers=ADMIN, json={"correct": False, "relevant": [1], "missing": [missing]})
    assert labelled.status_code == 200, labelled.text
    first = disliked["citations"][0]
    assert labelled.json()["relevant"] == [
        {"document_id": first["document_id"], "chunk_index": first["chunk_index"]},
        missing,
    ]
    assert (await api.post(label_url, headers=ADMIN, json={"relevant": [42]})).status_code == 422
    assert (await api.post(label_url, headers=ADMIN, json={"note": "hm"})).status_code == 422

    still_open = (await api.get("/v1/admin/reviews", headers=ADMIN, params={"limit": 500})).json()
    assert disliked["answer_id"] not in {item["answer_id"] for item in still_open["items"]}
    done = (await api.get("/v1/admin/reviews", headers=ADMIN, params={"status": "labelled"})).json()
    entry = next(i for i in done["items"] if i["answer_id"] == disliked["answer_id"])
    assert entry["label"]["correct"] is False and entry["label"]["reviewer"]


async def test_a_snapshot_exports_answers_with_their_feedback_and_labels_and_the_cli_stores_it(
    learning, tmp_path, monkeypatch, s3_endpoint
):
    api, _, alice, _ = learning
    answer = (await api.post("/v1/query", headers=alice, json={"question": "Heron ticket price?"})).json()
    await api.post(f"/v1/answers/{answer['answer_id']}/feedback", headers=alice, json={"thumb": "down"})
    await api.post(f"/v1/admin/reviews/{answer['answer_id']}/label", headers=ADMIN, json={"relevant": [1]})

    exported = await api.get("/v1/admin/interactions/export", headers=ADMIN)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in exported.text.splitlines()]
    assert [row["at"] for row in rows] == sorted(row["at"] for row in rows)
    mine = next(row for row in rows if row["answer_id"] == answer["answer_id"])
    assert mine["question"] == "Heron ticket price?" and mine["feedback"][0]["thumb"] == -1
    assert mine["label"]["relevant"][0]["document_id"] == answer["citations"][0]["document_id"]
    labelled = await api.get("/v1/admin/interactions/export", headers=ADMIN, params={"labelled_only": True})
    assert answer["answer_id"] in labelled.text and len(labelled.text.splitlines()) < len(rows)
    # Another tenant's admin sees none of these.
    assert answer["answer_id"] not in (await api.get("/v1/admin/interactions/export", headers=HASHED_ADMIN)).text
    bad = await api.get(
        "/v1/admin/interactions/export",
        headers=ADMIN,
        params={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    )
    assert bad.status_code == 422 and "since must be before until" in bad.text

    until = exported.headers["X-Ragmesh-Snapshot-Until"]
    arguments = [
        "export",
        "--to",
        str(tmp_path),
        "--until",
        until,
        "--url",
        str(api.base_url),
        "--api-key",
        ADMIN["X-API-Key"],
    ]
    for _ in range(2):  # the same window twice: the same file
        result = await asyncio.to_thread(CliRunner().invoke, cli.app, arguments)
        assert result.exit_code == 0, result.output
    (stored,) = tmp_path.glob("interactions-*.jsonl")
    assert re.fullmatch(r"interactions-\d{8}T\d{6}-[0-9a-f]{12}\.jsonl", stored.name)
    assert stored.read_text() == exported.text

    # The same snapshot into an S3 bucket (moto's server), the key read from a file as a CronJob mounts it.
    endpoint = s3_endpoint
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = boto3.client("s3", endpoint_url=endpoint)
    bucket.create_bucket(Bucket="snapshots")
    key_file = tmp_path / "api-key"
    key_file.write_text(ADMIN["X-API-Key"])
    to_bucket = ["export", "--to", "s3://snapshots/daily", "--s3-endpoint", endpoint, "--until", until]
    to_bucket += ["--url", str(api.base_url), "--api-key-file", str(key_file)]
    result = await asyncio.to_thread(CliRunner().invoke, cli.app, to_bucket)
    assert result.exit_code == 0, result.output
    (listed,) = bucket.list_objects_v2(Bucket="snapshots", Prefix="daily/")["Contents"]
    assert listed["Key"] == f"daily/{stored.name}"
    assert bucket.get_object(Bucket="snapshots", Key=listed["Key"])["Body"].read().decode() == exported.text
