"""No cached answer outlives the corpus it was built on. The corpus version's truth is the ingest catalogue (it moves
in the same transaction as each change), so a change made while Redis is paused succeeds, and once Redis is back
the old answer is not served."""

import os
import signal

import pytest
import redis.asyncio as redis

from ragmesh.suite import redis_server
from tests.servers import gateway

KEY = {"X-API-Key": "key-versions"}
QUESTION = {"question": "When does the Tern ferry leave Harl harbour?"}


def _upload(api, text: str):
    return api.post(
        "/v1/documents",
        headers=KEY,
        data={"document_id": "tern"},
        files={"file": ("tern.md", text.encode(), "text/markdown")},
    )


@pytest.fixture
def own_redis(tmp_path):
    with redis_server(tmp_path) as url:
        yield url


async def test_a_change_while_redis_is_paused_succeeds_and_no_stale_answer_is_served_after(suite, own_redis):
    settings = suite.gateway_settings(
        api_keys={"key-versions": "versions"}, redis_url=own_redis, rate_limits={}, tenant_max_in_flight=0
    )
    client = redis.from_url(own_redis)
    pid = int((await client.info("server"))["process_id"])
    async with gateway(settings) as api:
        first = await _upload(api, "# Tern ferry\n\nThe Tern ferry leaves Harl harbour at 07:15 every morning.\n")
        assert first.status_code == 201, first.text
        answered = (await api.post("/v1/query", headers=KEY, json=QUESTION)).json()
        assert "07:15" in answered["citations"][0]["quotes"][0]["text"]
        assert (await api.post("/v1/query", headers=KEY, json=QUESTION)).json()["cached"] is True

        # The timetable changes while Redis is paused: the change is stored and acknowledged all the same.
        os.kill(pid, signal.SIGSTOP)
        try:
            changed = await _upload(api, "# Tern ferry\n\nThe Tern ferry leaves Harl harbour at 09:40 every morning.\n")
        finally:
            os.kill(pid, signal.SIGCONT)
        assert changed.status_code == 200 and changed.json()["status"] == "updated", changed.text

        # Redis is back with the old answer still in it: it is never served again.
        after = (await api.post("/v1/query", headers=KEY, json=QUESTION)).json()
        assert after["cached"] is False
        assert "09:40" in after["citations"][0]["quotes"][0]["text"]
        assert (await api.post("/v1/query", headers=KEY, json=QUESTION)).json()["cached"] is True

        # A permission change and a delete move the version too.
        access = await api.put("/v1/documents/tern/access", headers=KEY, json={"allowed_users": ["ann"]})
        assert access.status_code == 200, access.text
        assert (await api.post("/v1/query", headers=KEY, json=QUESTION)).json()["cached"] is False
        assert (await api.delete("/v1/documents/tern", headers=KEY)).status_code == 200
        gone = (await api.post("/v1/query", headers=KEY, json=QUESTION)).json()
        assert gone["cached"] is False and gone["no_context"] is True
    await client.aclose()
