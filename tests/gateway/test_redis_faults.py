"""A paused Redis (SIGSTOP: it accepts connections and never answers, the hardest way to fail) never holds a
request for long: rate limits are counted in the replica's memory, caches are skipped, and budgets, which must be
exact, refuse with 503 and Retry-After. Once Redis answers again, everything is as before."""

import asyncio
import os
import signal
import time

import pytest
import redis.asyncio as redis

from ragmesh.suite import redis_server
from services.gateway.ratelimits import LOCAL
from services.runtime.stores import REDIS_RESET_SECONDS
from tests.servers import gateway

ADMIN = {"X-API-Key": "key-redis-faults"}


@pytest.fixture
def own_redis(tmp_path):
    with redis_server(tmp_path) as url:
        yield url


async def test_a_paused_redis_costs_a_request_a_fraction_of_a_second_and_budgets_fail_closed(suite, own_redis):
    settings = suite.gateway_settings(
        api_keys={"key-redis-faults": "redis-faults"},
        redis_url=own_redis,
        price_per_1k_tokens_usd=0.01,
        budget_user_usd_per_day=10.0,
    )
    client = redis.from_url(own_redis)
    pid = int((await client.info("server"))["process_id"])
    async with gateway(settings) as api:
        document = b"# Gull ferry\n\nThe Gull ferry leaves Orm at 06:50 on weekdays.\n"
        uploaded = await api.post(
            "/v1/documents", headers=ADMIN, files={"file": ("gull.md", document, "text/markdown")}
        )
        assert uploaded.status_code == 201, uploaded.text
        created = await api.post(
            "/v1/admin/keys",
            headers=ADMIN,
            json={
                "name": "limited",
                "scopes": ["query"],
                "rate_limits": {"search": ["4/minute"], "answer": ["100/minute"]},
            },
        )
        key = {"X-API-Key": created.json()["key"]}
        question = {"question": "When does the Gull ferry leave Orm?"}
        assert (await api.post("/v1/query", headers=key, json=question)).status_code == 200

        os.kill(pid, signal.SIGSTOP)
        try:
            local_before = LOCAL._value.get()
            statuses, slowest = [], 0.0
            for i in range(5):
                started = time.monotonic()
                reply = await api.post("/v1/search", headers=key, json={"query": f"Gull ferry {i}", "top_k": 1})
                slowest = max(slowest, time.monotonic() - started)
                statuses.append(reply.status_code)
            # Limited all the same, in this replica's memory: four admitted, the fifth refused.
            assert statuses == [200, 200, 200, 200, 429] and LOCAL._value.get() - local_before == 5
            # A generous bound: each Redis call gives up after 0.5 s, and after three that did its breaker fails the rest at once.
            assert slowest < 2.5
            # An answer must be paid for: without its budgets' store it is refused, never given uncounted.
            refused = await api.post("/v1/query", headers=key, json={"question": "Does the Gull ferry run daily?"})
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
            assert "budgets cannot be checked" in refused.json()["detail"]
            status = (await api.get("/v1/admin/status", headers=ADMIN)).json()
            assert status["dependencies"]["redis"].startswith("unreachable")
        finally:
            os.kill(pid, signal.SIGCONT)
        # Redis's breaker tries it again after REDIS_RESET_SECONDS; then all is as before. (The key's answer limit
        # leaves room for these retries: the search limit above is the one under test.)
        deadline = time.monotonic() + REDIS_RESET_SECONDS + 5
        while (again := await api.post("/v1/query", headers=key, json=question)).status_code != 200:
            assert again.status_code == 503 and time.monotonic() < deadline, again.text
            await asyncio.sleep(0.5)
        assert again.json()["usage"]["model_calls"] <= 1
    await client.aclose()
