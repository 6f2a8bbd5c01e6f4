"""What requests spend, end to end: every model call of a request charged to the caller's budgets and written to the
usage ledger (GET /v1/usage, GET /v1/admin/usage); a nearly spent budget skips optional model calls, shortens the
answer and turns to the economy model, and alerts a webhook once; key tiers bound what one request may ask for.
Paid models are LiteLLM's mock_response (priced by LiteLLM's own price map)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
import redis.asyncio as redis

from services.gateway.budgets import BudgetPolicy, Budgets
from services.gateway.identity import Principal
from services.generator.config import GeneratorSettings
from services.generator.server import create_server as create_generator
from tests.servers import gateway, running

ADMIN = {"X-API-Key": "key-usage-admin"}
OPERATOR = {"X-API-Key": "key-usage-operator"}
DOCUMENT = (
    b"# Heron ferries\n\nThe Heron ferry leaves Port Alba at 06:40 every weekday in winter. "
    b"Tickets are sold on board and cost four euros.\n"
)
QUESTION = "When does the Heron ferry leave Port Alba?"


def _paid(mock: str, **settings: object) -> GeneratorSettings:
    """A hosted model LiteLLM prices, answering with `mock` (no provider is called)."""
    return GeneratorSettings(model="openai/gpt-4o-mini", api_base="", mock_response=mock, **settings)


async def _key(api: httpx.AsyncClient, name: str, **fields: object) -> dict:
    created = await api.post("/v1/admin/keys", headers=ADMIN, json={"name": name, "scopes": ["query"], **fields})
    assert created.status_code == 201, created.text
    return created.json()


@pytest.fixture(scope="module")
async def spending(suite):
    """A gateway pricing a paid model, its tenant with one document, and a Redis client on its budgets."""
    settings = suite.gateway_settings(
        api_keys={"key-usage-admin": "usage", "key-usage-operator": "operators"},
        operator_tenants=["operators"],
        budget_user_usd_per_day=1.0,
        budget_global_usd_per_day=0,
        rate_limits={"answer": ["100/minute"], "search": ["100/minute"]},
    )
    async with running(create_generator(_paid('{"sentences": [1]}'))) as target:
        async with gateway(settings.model_copy(update={"generator_target": target})) as api:
            uploaded = await api.post(
                "/v1/documents", headers=ADMIN, files={"file": ("heron.md", DOCUMENT, "text/markdown")}
            )
            assert uploaded.status_code == 201, uploaded.text
            client = redis.from_url(suite.redis_url)
            yield api, settings, client
            await client.aclose()


async def test_a_request_pays_for_each_of_its_model_calls_and_the_ledger_reports_them(spending):
    api, _, _ = spending
    key = await _key(api, "reader")
    headers = {"X-API-Key": key["key"]}
    # LLM compression and the answer: two model calls, both priced at gpt-4o-mini's rates.
    body = {"question": QUESTION, "compress_method": "llm"}
    first = (await api.post("/v1/query", headers=headers, json=body)).json()
    assert first["context"]["compression"] == "llm", first
    assert first["usage"]["model_calls"] == 2 and first["usage"]["cost_usd"] > 0
    # The same question again comes from the cache: no model call, nothing spent.
    again = (await api.post("/v1/query", headers=headers, json=body)).json()
    assert again["cached"] is True and again["usage"] == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "model_calls": 0,
    }
    found = (await api.post("/v1/search", headers=headers, json={"query": "Heron ferry"})).json()
    assert found["usage"]["model_calls"] == 0 and found["hits"]

    usage = (await api.get("/v1/usage", headers=headers)).json()
    routes = {row["route"]: row for row in usage["by_route"]}
    assert routes["query"]["requests"] == 2 and routes["query"]["cached"] == 1
    assert routes["query"]["model_calls"] == 2 and routes["query"]["cost_usd"] == first["usage"]["cost_usd"]
    assert routes["search"]["requests"] == 1 and usage["total"]["requests"] == 3
    assert usage["spender"] == f"key:{key['id']}" and usage["tier"] == "standard"
    (budget,) = usage["budgets"]
    assert budget["scope"] == "caller" and budget["limit_usd"] == 1.0
    assert budget["spent_usd"] == pytest.approx(first["usage"]["cost_usd"], abs=1e-6)
    assert budget["remaining_usd"] == pytest.approx(1.0 - budget["spent_usd"], abs=1e-6)
    answer_limit = next(r for r in usage["rate_limits"] if r["bucket"] == "answer" and r["scope"] == "caller")
    assert answer_limit["limit"] == "100 per 1 minute" and answer_limit["remaining"] == 98

    # The tenant's administrator: the tenant's totals and its top spender; another tenant's usage is not its own.
    admin = (await api.get("/v1/admin/usage", headers=ADMIN)).json()
    assert [row["tenant"] for row in admin["tenants"]] == ["usage"]
    top = admin["top_spenders"][0]
    assert top["spender"] == f"key:{key['id']}" and top["cost_usd"] >= first["usage"]["cost_usd"]
    refused = await api.get("/v1/admin/usage", headers=ADMIN, params={"tenant": "operators"})
    assert refused.status_code == 403
    # An operator sees every tenant.
    everyone = (await api.get("/v1/admin/usage", headers=OPERATOR, params={"tenant": "*"})).json()
    assert "usage" in {row["tenant"] for row in everyone["tenants"]}
    bad = await api.get(
        "/v1/usage",
        headers=headers,
        params={"since": "2026-01-01T00:00:00+00:00", "until": "2025-01-01T00:00:00+00:00"},
    )
    assert bad.status_code == 422 and "since must be before until" in bad.text
    denied = await api.get("/v1/admin/usage", headers=headers)
    assert denied.status_code == 403


class _Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads what was posted, not the access log."""


async def test_a_nearly_spent_budget_skips_optional_calls_turns_to_the_economy_model_and_alerts_once(suite):
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    settings = suite.gateway_settings(
        api_keys={"key-usage-admin": "usage-tight"},
        budget_user_usd_per_day=1.0,
        budget_global_usd_per_day=0,
        budget_tight_max_tokens=16,
        budget_alert_webhook_url=f"http://127.0.0.1:{hook.server_port}/alerts",
    )
    generator = _paid('{"sentences": [1]}', economy_model="openai/gpt-3.5-turbo")
    client = redis.from_url(suite.redis_url)
    try:
        async with running(create_generator(generator)) as target:
            async with gateway(settings.model_copy(update={"generator_target": target})) as api:
                uploaded = await api.post(
                    "/v1/documents", headers=ADMIN, files={"file": ("heron.md", DOCUMENT, "text/markdown")}
                )
                assert uploaded.status_code == 201, uploaded.text
                key = await _key(api, "tight")
                headers = {"X-API-Key": key["key"]}
                body = {"question": QUESTION, "compress_method": "llm"}
                normal = (await api.post("/v1/query", headers=headers, json=body)).json()
                assert normal["model"] == "openai/gpt-4o-mini" and normal["usage"]["model_calls"] == 2
                # Spend 95% of the key's budget elsewhere (another replica, another request).
                caller = Principal(tenant="usage-tight", key_id=key["id"], via="api-key")
                await Budgets(client, BudgetPolicy(user_usd=1.0, suite_usd=0)).reserve(caller, 0.95)
                tight = (
                    await api.post(
                        "/v1/query",
                        headers=headers,
                        json={**body, "question": "How much does a Heron ferry ticket cost?"},
                    )
                ).json()
                # No LLM compression (similarity instead), the economy model, one model call.
                assert tight["context"]["compression"] == "similarity", tight
                assert tight["model"] == "openai/gpt-3.5-turbo" and tight["usage"]["model_calls"] == 1
                await api.post(
                    "/v1/query", headers=headers, json={**body, "question": "Are Heron tickets sold on board?"}
                )
                # Spent: refused with the reason until the day ends.
                budgets = Budgets(client, BudgetPolicy(user_usd=1.0, suite_usd=0))
                (left,) = await budgets.state(caller)
                await budgets.reserve(caller, left.remaining_usd)
                refused = await api.post(
                    "/v1/query",
                    headers=headers,
                    json={**body, "question": "Which weekdays does the Heron ferry run in winter?"},
                )
                assert refused.status_code == 429 and "daily budget" in refused.json()["detail"]
                assert int(refused.headers["Retry-After"]) > 0
    finally:
        await client.aclose()
        hook.shutdown()
    thresholds = [alert["threshold"] for alert in _Webhook.received if alert["budget"].endswith(key["id"])]
    # Each threshold once, however many requests crossed it.
    assert sorted(thresholds) == [0.9, 1.0], _Webhook.received
    assert all(alert["scope"] == "caller" and alert["limit_usd"] == 1.0 for alert in _Webhook.received)


async def test_a_key_tier_bounds_what_one_request_may_ask_for(spending):
    api, _, _ = spending
    free = {"X-API-Key": (await _key(api, "free", tier="free"))["key"]}
    over = await api.post("/v1/query", headers=free, json={"question": QUESTION, "top_k": 20})
    assert over.status_code == 422 and "tier 'free' allows at most 10" in over.json()["detail"]
    llm = await api.post("/v1/query", headers=free, json={"question": QUESTION, "compress_method": "llm"})
    assert llm.status_code == 422 and "not in this key's tier 'free'" in llm.json()["detail"]
    long = await api.post("/v1/query", headers=free, json={"question": QUESTION, "max_tokens": 1000})
    assert long.status_code == 422 and "max_tokens" in long.json()["detail"]
    # Within the tier: answered, with the tier's options (similarity compression: one model call).
    within = (await api.post("/v1/query", headers=free, json={"question": QUESTION})).json()
    assert within["context"]["compression"] == "similarity" and within["usage"]["model_calls"] == 1
    assert (await api.post("/v1/search", headers=free, json={"query": "ferry", "top_k": 11})).status_code == 422
    # The same request under the default tier goes through; an unknown tier is refused when the key is made.
    standard = {"X-API-Key": (await _key(api, "standard"))["key"]}
    assert (await api.post("/v1/query", headers=standard, json={"question": QUESTION, "top_k": 20})).status_code == 200
    unknown = await api.post("/v1/admin/keys", headers=ADMIN, json={"name": "x", "tier": "platinum"})
    assert unknown.status_code == 422 and "unknown tier 'platinum'" in unknown.json()["detail"]
