"""Batch uploads through the public API: several files (or a manifest) are queued as one job at once (202), and
GET /v1/jobs/{id} follows each document to its outcome; one file keeps its synchronous answer."""

import asyncio
import json

from tests.conftest import ACME, BATCHES


async def _follow(api, status_url: str, seconds: float = 60) -> dict:
    for _ in range(int(seconds / 0.2)):
        job = (await api.get(status_url, headers=BATCHES)).json()
        if job["done"]:
            return job
        await asyncio.sleep(0.2)
    raise AssertionError(f"the job did not finish: {job}")


def _file(name: str, text: str) -> tuple[str, tuple[str, bytes, str]]:
    return ("file", (name, text.encode(), "text/markdown"))


async def test_several_files_become_a_job_that_shows_each_documents_outcome(api):
    manifest = [
        {"file": "ferries.md", "document_id": "ferries", "title": "Ferry timetable", "tags": ["transport"]},
        {"file": "empty.md", "title": "Nothing"},
    ]
    reply = await api.post(
        "/v1/documents",
        headers=BATCHES,
        files=[
            _file("ferries.md", "# Ferries\n\nThe Tessel ferry leaves the north quay at 07:40 every weekday.\n"),
            _file("bakery.md", "# Bakery\n\nThe Tessel bakery opens at six and sells rye loaves until noon.\n"),
            _file("empty.md", ""),
        ],
        data={"licence": "CC-BY-4.0", "manifest": json.dumps(manifest)},
    )
    assert reply.status_code == 202, reply.text
    submitted = reply.json()
    assert reply.headers["location"] == submitted["status_url"] == f"/v1/jobs/{submitted['job_id']}"
    assert submitted["total"] == 3 and [item["name"] for item in submitted["items"]] == [
        "ferries.md",
        "bakery.md",
        "empty.md",
    ]
    job = await _follow(api, submitted["status_url"])
    assert [item["state"] for item in job["items"]] == ["indexed", "indexed", "quarantined"]
    assert job["counts"] == {"indexed": 2, "quarantined": 1} and job["finished"] == 3
    assert "empty" in job["items"][2]["reason"]
    assert job["submitted_by"].startswith("batches/")
    # The manifest's fields and the form's shared ones both reached the documents.
    ferries = (await api.get("/v1/documents/ferries", headers=BATCHES)).json()
    assert ferries["metadata"]["title"] == "Ferry timetable" and ferries["metadata"]["tags"] == ["transport"]
    assert ferries["metadata"]["licence"] == "CC-BY-4.0"
    answer = await api.post("/v1/search", headers=BATCHES, json={"query": "When does the ferry leave?"})
    assert answer.json()["hits"][0]["document_id"] == "ferries"
    # Jobs are the tenant's own.
    assert (await api.get(submitted["status_url"], headers=ACME)).status_code == 404
    assert (await api.get("/v1/jobs/job_missing", headers=BATCHES)).status_code == 404


async def test_one_file_keeps_its_synchronous_answer_unless_batch_is_asked(api):
    one = await api.post(
        "/v1/documents", headers=BATCHES, files=[_file("tide.md", "# Tide\n\nHigh tide is at 14:05.\n")]
    )
    assert one.status_code == 201 and one.json()["status"] == "created"
    queued = await api.post(
        "/v1/documents",
        headers=BATCHES,
        files=[_file("moon.md", "# Moon\n\nThe moon rises at 19:12 over the Tessel dunes.\n")],
        data={"batch": "true"},
    )
    assert queued.status_code == 202
    assert [item["state"] for item in (await _follow(api, queued.json()["status_url"]))["items"]] == ["indexed"]


async def test_bad_batches_are_422_with_the_reason_and_nothing_is_queued(api):
    two = [_file("a.md", "# A\n\nAlpha.\n"), _file("b.md", "# B\n\nBeta.\n")]
    for data, detail in (
        ({"manifest": "not json"}, "manifest is not valid JSON"),
        ({"manifest": '{"file": "a.md"}'}, "JSON array of objects"),
        ({"manifest": '[{"file": "c.md"}]'}, "not uploaded: ['c.md']"),
        ({"manifest": '[{"file": "a.md", "colour": "red"}]'}, "unknown fields ['colour']"),
        ({"manifest": '[{"file": "a.md", "tags": "not-a-list"}]'}, "document metadata"),
        ({"document_id": "same"}, "give each file its own"),
    ):
        reply = await api.post("/v1/documents", headers=BATCHES, files=two, data=data)
        assert reply.status_code == 422 and detail in reply.json()["detail"], (data, reply.text)


async def test_urls_are_queued_as_a_job_with_their_manifest_entries(api):
    from aiohttp import web

    from ragmesh.suite import free_port

    async def page(request: web.Request) -> web.Response:
        if request.path == "/robots.txt":
            return web.Response(text="User-agent: *\nAllow: /\n")
        return web.Response(
            text="<html><body><h1>Lock keeper</h1><p>The Tessel lock opens every hour on the half hour.</p></body></html>",
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        url = f"http://127.0.0.1:{port}/lock.html"
        manifest = [{"url": url, "document_id": "lock", "tags": ["canal"]}]
        reply = await api.post(
            "/v1/documents", headers=BATCHES, data={"urls": url, "manifest": json.dumps(manifest), "licence": "CC0-1.0"}
        )
        assert reply.status_code == 202, reply.text
        job = await _follow(api, reply.json()["status_url"])
        assert [(item["name"], item["state"]) for item in job["items"]] == [(url, "indexed")], job
        lock = (await api.get("/v1/documents/lock", headers=BATCHES)).json()
        assert lock["metadata"]["source"] == url and lock["metadata"]["tags"] == ["canal"]
        assert lock["metadata"]["licence"] == "CC0-1.0"
        # Nothing to ingest is a 422, as is a manifest naming a URL that was not sent.
        assert (await api.post("/v1/documents", headers=BATCHES, data={"title": "x"})).status_code == 422
        other = json.dumps([{"url": "http://127.0.0.1:1/else"}])
        refused = await api.post("/v1/documents", headers=BATCHES, data={"urls": url, "manifest": other})
        assert refused.status_code == 422 and "not in urls" in refused.json()["detail"]
    finally:
        await runner.cleanup()
