"""The learning loop end to end on the real suite: answers are logged, reviewers label them, an adapter is trained
from the labels and passes the gate, is served to a canary share of users (sticky), then to everyone; a poisoned
batch of labels trains a version the gate rejects on the previous version's test split (kept as it was labelled);
rollback takes the served version back out. Every trained version is stored as an artifact in S3 (moto's server)."""

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from services.gateway.learning.artifacts import AdapterArtifacts
from services.gateway.records.database import Database
from services.gateway.records.models import AdapterRecord, Interaction
from services.records.objects import S3Bucket
from tests.conftest import S3_CREDENTIALS
from tests.servers import gateway

ADMIN = {"X-API-Key": "key-loop"}
BIRDS = [
    "Albatross", "Bittern", "Curlew", "Dunlin", "Egret", "Fulmar", "Gannet", "Heron", "Ibis", "Jacana",
    "Kestrel", "Lapwing", "Merlin", "Nightjar", "Osprey", "Plover", "Quail", "Redshank", "Shearwater", "Tern",
    "Upupa", "Vireo", "Wryneck", "Xenops", "Yellowhammer", "Zitting", "Avocet", "Bunting", "Crake", "Dipper",
]  # fmt: skip


def _document(n: int, bird: str) -> str:
    return f"The {bird} lighthouse stands on the {bird} rocks and was first lit in {1800 + n * 3}."


def _question(bird: str) -> str:
    return f"In which year was the {bird} lighthouse first lit?"


@pytest.fixture(scope="module")
async def loop(suite, s3_endpoint):
    settings = suite.gateway_settings(
        api_keys={"key-loop": "loop", "key-loop-empty": "loop-empty"},
        rate_limits={},
        retrain_least_labels=20,
        canary_least_answers=4,
        artifact_store_url="s3://learning/artifacts",
        artifact_s3_endpoint_url=s3_endpoint,
        artifact_s3_region=S3_CREDENTIALS["region"],
        artifact_s3_access_key_id=S3_CREDENTIALS["access_key_id"],
        artifact_s3_secret_access_key=S3_CREDENTIALS["secret_access_key"],
    )
    async with gateway(settings) as api:
        for n, bird in enumerate(BIRDS):
            uploaded = await api.post(
                "/v1/documents",
                headers=ADMIN,
                data={"document_id": f"light-{n}"},
                files={"file": (f"{bird}.txt", _document(n, bird).encode(), "text/plain")},
            )
            assert uploaded.status_code == 201, uploaded.text
        database = Database(settings.database)
        yield api, database
        await database.close()


async def _label_all(api, answers: dict[int, dict], relevant_document) -> None:
    for n, answer in answers.items():
        wanted = relevant_document(n)
        index = next(i for i, hit in enumerate(answer["hits"], start=1) if hit["document_id"] == wanted)
        labelled = await api.post(
            f"/v1/admin/reviews/{answer['answer_id']}/label", headers=ADMIN, json={"correct": True, "relevant": [index]}
        )
        assert labelled.status_code == 200, labelled.text


async def _trained(api) -> dict:
    started = await api.post("/v1/admin/adapters", headers=ADMIN)
    assert started.status_code == 202, started.text
    version = started.json()["version"]
    for _ in range(600):
        current = (await api.get(f"/v1/admin/adapters/{version}", headers=ADMIN)).json()
        if current["status"] != "training":
            return current
        await asyncio.sleep(0.1)
    raise AssertionError(f"version {version} still training: {current}")


async def _user(api, name: str) -> dict[str, str]:
    created = await api.post("/v1/admin/keys", headers=ADMIN, json={"name": name, "scopes": ["query"], "user": name})
    return {"X-API-Key": created.json()["key"]}


async def _check_artifact(api, database, version: dict, s3_endpoint: str) -> dict:
    """The version's artifact in the bucket: its manifest says what the record says, its matrix is the one served,
    its data snapshot holds every labelled answer with its split; a matrix whose bytes changed is refused."""
    reply = await api.get(f"/v1/admin/adapters/{version['version']}/artifact", headers=ADMIN)
    assert reply.status_code == 200, reply.text
    artifact = reply.json()
    assert artifact["location"] == f"s3://learning/artifacts/adapters/loop/v{version['version']}/manifest.json"
    manifest = artifact["manifest"]
    assert manifest["splits"] == version["splits"] and manifest["scores"] == version["scores"]
    assert manifest["gate"] == {"passed": version["status"] == "ready", "reasons": version["reasons"]}
    assert manifest["snapshot"] == version["snapshot"] and manifest["model"] == version["model"]
    bucket = S3Bucket("learning", "artifacts", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    stored = AdapterArtifacts(bucket)
    async with database.session() as session:
        row = await session.get(AdapterRecord, ("loop", version["version"]))
    matrix = await stored.matrix("loop", version["version"])
    assert np.array_equal(matrix, np.frombuffer(row.matrix, np.float32).reshape(row.dimension, -1))
    snapshot = await stored.snapshot("loop", version["version"])
    assert {split: sum(r.split == split for r in snapshot) for split in version["splits"]} == version["splits"]
    assert all(r.question and r.relevant_documents and r.relevant_passages for r in snapshot)
    key = f"adapters/loop/v{version['version']}/adapter.npy"
    await bucket.put(key, (await bucket.get(key))[:-4] + b"\0\0\0\0", {})
    with pytest.raises(ValueError, match="digest"):
        await stored.matrix("loop", version["version"])
    bucket.close()
    return manifest


async def test_labels_train_a_gated_adapter_served_to_a_canary_then_everyone_and_rolled_back(loop, s3_endpoint):
    api, database = loop
    assert (await api.post("/v1/admin/adapters", headers={"X-API-Key": "key-loop-empty"})).status_code == 409

    answers = {}
    for n, bird in enumerate(BIRDS):
        reply = await api.post("/v1/search", headers=ADMIN, json={"query": _question(bird), "top_k": 30})
        answers[n] = reply.json()
    await _label_all(api, answers, lambda n: f"light-{n}")

    first = await _trained(api)
    assert first["status"] == "ready", first
    assert first["splits"] == {"train": 24, "validation": 3, "test": 3} and set(first["scores"]) == {"test split"}
    assert first["scores"]["test split"]["candidate"] >= 0.98 * first["scores"]["test split"]["served"]
    await _check_artifact(api, database, first, s3_endpoint)

    # A canary: half of the users (by a hash of who they are), the same ones on every request.
    canary = await api.post(f"/v1/admin/adapters/{first['version']}/serve", headers=ADMIN, json={"share": 0.5})
    assert canary.status_code == 200 and canary.json()["status"] == "canary"
    users = [await _user(api, f"reader-{i}") for i in range(8)]
    served = {}
    for user in users:
        ids = [(await api.post("/v1/search", headers=user, json={"query": _question("Tern")})).json()["answer_id"]]
        ids += [(await api.post("/v1/search", headers=user, json={"query": _question("Ibis")})).json()["answer_id"]]
        await api.get("/v1/admin/reviews", headers=ADMIN)  # the records are written
        async with database.session() as session:
            rows = await session.scalars(select(Interaction).where(Interaction.id.in_(ids)))
            served[user["X-API-Key"]] = {row.steering["adapter"] for row in rows}
    assert all(len(versions) == 1 for versions in served.values())  # sticky
    assert {next(iter(v)) for v in served.values()} == {0, first["version"]}

    everyone = await api.post(f"/v1/admin/adapters/{first['version']}/serve", headers=ADMIN, json={"share": 1})
    assert everyone.json()["status"] == "serving"

    # A poisoned batch: every answer relabelled as answered by the first lighthouse.
    await _label_all(api, answers, lambda n: "light-0")
    poisoned = await _trained(api)
    assert poisoned["status"] == "rejected", poisoned
    assert any(reason.startswith("previous test split") for reason in poisoned["reasons"]), poisoned
    rejected = await _check_artifact(api, database, poisoned, s3_endpoint)
    assert rejected["gate"]["passed"] is False and rejected["judged_against"] == first["version"]
    refused = await api.post(f"/v1/admin/adapters/{poisoned['version']}/serve", headers=ADMIN, json={})
    assert refused.status_code == 409 and "rejected" in refused.text

    rolled = await api.post("/v1/admin/adapters/rollback", headers=ADMIN)
    assert rolled.status_code == 200 and rolled.json()["adapters"][0]["status"] == "retired"
    listed = (await api.get("/v1/admin/adapters", headers=ADMIN)).json()["adapters"]
    assert [(a["version"], a["status"]) for a in listed] == [
        (poisoned["version"], "rejected"),
        (first["version"], "retired"),
    ]
    assert (await api.post("/v1/admin/adapters/rollback", headers=ADMIN)).status_code == 409


async def test_a_canary_whose_answers_are_disliked_is_rolled_back_by_itself(loop):
    api, database = loop
    candidate = await _trained(api)
    assert candidate["status"] == "ready", candidate
    version = candidate["version"]
    served = await api.post(f"/v1/admin/adapters/{version}/serve", headers=ADMIN, json={"share": 0.5})
    assert served.json()["status"] == "canary"

    answered = []
    for i in range(8):
        user = await _user(api, f"critic-{i}")
        for bird in ("Tern", "Ibis", "Heron"):
            answer = (await api.post("/v1/search", headers=user, json={"query": _question(bird)})).json()
            answered.append((user, answer["answer_id"]))
    await api.get("/v1/admin/reviews", headers=ADMIN)  # the records are written
    async with database.session() as session:
        by = {
            row.id: row.adapter
            for row in await session.scalars(select(Interaction).where(Interaction.id.in_([a for _, a in answered])))
        }
    canary = [(user, answer) for user, answer in answered if by[answer] == version]
    others = [(user, answer) for user, answer in answered if by[answer] == 0]
    assert len(canary) >= 4 and others and len(canary) + len(others) == len(answered)
    for user, answer in others:
        await api.post(f"/v1/answers/{answer}/feedback", headers=user, json={"thumb": "up"})

    # One dislike in a dozen answers is within the margin (10 points over the others' 0%); two are not.
    await api.post(f"/v1/answers/{canary[0][1]}/feedback", headers=canary[0][0], json={"thumb": "down"})
    if len(canary) > 10:
        assert (await api.get(f"/v1/admin/adapters/{version}", headers=ADMIN)).json()["status"] == "canary"
    for user, answer in canary[1:]:
        await api.post(f"/v1/answers/{answer}/feedback", headers=user, json={"rating": 1})
    after = (await api.get(f"/v1/admin/adapters/{version}", headers=ADMIN)).json()
    assert after["status"] == "retired" and after["reasons"][-1].startswith("rolled back automatically"), after
    figures = {
        row["version"]: row for row in (await api.get("/v1/admin/adapters/figures", headers=ADMIN)).json()["versions"]
    }
    assert figures[version]["negative"] == len(canary) and figures[0]["positive"] >= len(others)


async def test_the_scheduled_evaluation_rolls_back_a_canary_that_regresses_on_verified_labels(loop, tmp_path):
    """A version trained on bad labels (all pointing at one lighthouse) passes a gate judged on those same labels;
    once reviewers correct the labels, the scheduled evaluation finds the canary far worse and takes it out."""
    api, _ = loop
    answers = {
        n: (await api.post("/v1/search", headers=ADMIN, json={"query": _question(bird), "top_k": 30})).json()
        for n, bird in enumerate(BIRDS)
    }
    await _label_all(api, answers, lambda n: "light-0")
    bad = await _trained(api)
    assert bad["status"] == "ready", bad
    # Reviewers correct every label, earlier tests' included.
    labelled = (await api.get("/v1/admin/reviews", headers=ADMIN, params={"status": "labelled", "limit": 500})).json()
    for item in labelled["items"]:
        wanted = f"light-{next(n for n, bird in enumerate(BIRDS) if f'the {bird} lighthouse' in item['question'])}"
        index = next(p["index"] for p in item["passages"] if p["document_id"] == wanted)
        await api.post(
            f"/v1/admin/reviews/{item['answer_id']}/label", headers=ADMIN, json={"correct": True, "relevant": [index]}
        )
    assert (await api.post(f"/v1/admin/adapters/{bad['version']}/serve", headers=ADMIN, json={"share": 0.3})).json()[
        "status"
    ] == "canary"

    report = (await api.post("/v1/admin/evaluations", headers=ADMIN)).json()
    assert report["labelled"] == labelled["total"] >= len(BIRDS) and report["canary_version"] == bad["version"]
    assert report["ndcg_canary"] < 0.98 * report["ndcg_served"] and report["rolled_back"] is True, report
    after = (await api.get(f"/v1/admin/adapters/{bad['version']}", headers=ADMIN)).json()
    assert after["status"] == "retired" and after["reasons"][-1].startswith("rolled back by the scheduled evaluation")

    # Without a canary it reports the served score, for the record; the same through the CLI the CronJob runs.
    again = (await api.post("/v1/admin/evaluations", headers=ADMIN)).json()
    assert again["canary_version"] is None and again["ndcg_served"] == report["ndcg_served"]
    assert "no canary" in again["note"]
    assert (
        (await api.post("/v1/admin/evaluations", headers={"X-API-Key": "key-loop-empty"}))
        .json()["note"]
        .startswith("0 verified labels")
    )
    # The CLI the CronJob runs, with the key from a file as the chart mounts it.
    key = tmp_path / "api-key"
    key.write_text("key-loop\n")
    command = [
        "-c",
        "from ragmesh.cli import app; app()",
        "evaluate",
        "--url",
        str(api.base_url),
        "--api-key-file",
        key,
    ]
    ran = await asyncio.create_subprocess_exec(sys.executable, *map(str, command), stdout=asyncio.subprocess.PIPE)
    printed, _ = await ran.communicate()
    assert ran.returncode == 0 and f'"ndcg_served": {report["ndcg_served"]}' in printed.decode()


async def test_a_version_whose_training_replica_died_is_marked_failed(loop):
    """A version left "training" (its replica stopped) past retrain_abandoned_after_seconds reads as failed."""
    api, database = loop
    listed = (await api.get("/v1/admin/adapters", headers=ADMIN)).json()["adapters"]
    version = max((a["version"] for a in listed), default=0) + 100
    async with database.session() as session:
        session.add(
            AdapterRecord(
                tenant="loop", version=version, status="training", progress="training", matrix=b"", dimension=0,
                model="", splits={}, snapshot="", scores={}, reasons=[], share=0.0,
                created_at=datetime.now(UTC) - timedelta(hours=2), created_by="a replica that died",
            )
        )  # fmt: skip
    abandoned = (await api.get(f"/v1/admin/adapters/{version}", headers=ADMIN)).json()
    assert abandoned["status"] == "failed" and abandoned["progress"].startswith("abandoned")
    # One that has just started is left training.
    async with database.session() as session:
        session.add(
            AdapterRecord(
                tenant="loop", version=version + 1, status="training", progress="training", matrix=b"", dimension=0,
                model="", splits={}, snapshot="", scores={}, reasons=[], share=0.0,
                created_at=datetime.now(UTC), created_by="a replica at work",
            )
        )  # fmt: skip
    assert (await api.get(f"/v1/admin/adapters/{version + 1}", headers=ADMIN)).json()["status"] == "training"
    async with database.session() as session:
        await session.delete(await session.get(AdapterRecord, ("loop", version + 1)))


async def test_a_version_whose_artifact_cannot_be_stored_fails_and_is_never_served(loop, suite, tmp_path):
    """A second gateway on the same records (the labels the tests above gave) whose object store cannot be written."""
    assert loop
    blocked = tmp_path / "a-file"
    blocked.write_text("a file where the store's folder should be")
    settings = suite.gateway_settings(
        api_keys={"key-loop": "loop"},
        rate_limits={},
        retrain_least_labels=20,
        artifact_store_url=f"file://{blocked}/artifacts",
    )
    async with gateway(settings) as unstored:
        version = await _trained(unstored)
        assert version["status"] == "failed" and "NotADirectoryError" in version["progress"], version
        assert version["artifact"] is None
        refused = await unstored.post(f"/v1/admin/adapters/{version['version']}/serve", headers=ADMIN, json={})
        assert refused.status_code == 409
        missing = await unstored.get(f"/v1/admin/adapters/{version['version']}/artifact", headers=ADMIN)
        assert missing.status_code == 404 and "no stored artifact" in missing.text
