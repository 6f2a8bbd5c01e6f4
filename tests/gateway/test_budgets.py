"""Cost budgets that cannot be overspent: reservations are atomic in Redis across replicas, settled at real cost."""

import asyncio

import pytest
import redis.asyncio as redis

from services.gateway.budgets import MICRO, BudgetExceeded, BudgetPolicy, Budgets
from services.gateway.identity import Principal
from services.runtime.metrics import RPC_TOTAL
from tests.servers import gateway

ANN = Principal(tenant="budget", user="ann", via="jwt")


async def test_fifty_concurrent_reservations_against_ten_dollars_admit_exactly_ten(suite):
    client = redis.from_url(suite.redis_url)
    budgets = Budgets(client, BudgetPolicy(user_usd=10.0, suite_usd=0))

    async def one():
        try:
            return await budgets.reserve(ANN, 1.0)
        except BudgetExceeded as refused:
            return refused

    outcomes = await asyncio.gather(*(one() for _ in range(50)))
    admitted = [o for o in outcomes if not isinstance(o, BudgetExceeded)]
    assert len(admitted) == 10
    refused = next(o for o in outcomes if isinstance(o, BudgetExceeded))
    assert "caller daily budget of $10.00 is spent" in str(refused) and 0 < refused.retry_after <= 86_401
    # Settling at the real cost refunds the difference: room for more, never more than the budget.
    for reservation in admitted:
        await budgets.settle(reservation, 0.25)
    spent = int(await client.get(admitted[0].keys[0])) / MICRO
    assert spent == 2.5
    assert (await budgets.reserve(ANN, 7.5)).amount == 7.5 * MICRO
    with pytest.raises(BudgetExceeded):
        await budgets.reserve(ANN, 0.01)
    await client.aclose()


async def test_concurrent_answers_never_spend_past_the_budget_and_the_rest_are_429(suite):
    settings = suite.gateway_settings(
        api_keys={"key-budget-admin": "budget-e2e"},
        price_per_1k_tokens_usd=1.0,
        budget_max_tokens=100,
        max_question_chars=400,
        # Worst case per answer: (context <= 50 + 300 + 100 question + 20 answer) tokens at $1/1k = at most $0.47.
        budget_user_usd_per_day=2.0,
        budget_global_usd_per_day=0,
        # Budgets are measured here, not caches: every answer must be a model call.
        semantic_cache_threshold=1.0,
        rate_limits={},
        tenant_max_in_flight=0,
        retrieval_timeout_seconds=120,
        generation_timeout_seconds=300,
    )
    async with gateway(settings) as api:
        created = await api.post(
            "/v1/admin/keys", headers={"X-API-Key": "key-budget-admin"}, json={"name": "spender", "scopes": ["query"]}
        )
        key = {"X-API-Key": created.json()["key"]}
        document = b"# Kestrel keys\n\nKestrel API keys must be rotated every 45 days by the security team.\n"
        uploaded = await api.post(
            "/v1/documents",
            headers={"X-API-Key": "key-budget-admin"},
            files={"file": ("kestrel.md", document, "text/markdown")},
        )
        assert uploaded.status_code == 201, uploaded.text
        calls_before = RPC_TOTAL.labels("/ragmesh.generator.v1.GeneratorService/Generate", "OK")._value.get()

        async def ask(i: int):
            body = {
                "question": f"How often must Kestrel keys be rotated? ({i})",
                "max_tokens": 20,
                "context_tokens": 50,
            }
            return await api.post("/v1/query", headers=key, json=body)

        replies = await asyncio.gather(*(ask(i) for i in range(50)))
        calls = RPC_TOTAL.labels("/ragmesh.generator.v1.GeneratorService/Generate", "OK")._value.get() - calls_before
    statuses = [r.status_code for r in replies]
    answered = [r.json() for r in replies if r.status_code == 200]
    assert statuses.count(429) + len(answered) == 50 and statuses.count(429) > 0
    refusals = {r.json()["detail"] for r in replies if r.status_code == 429}
    assert all("daily budget" in detail for detail in refusals), refusals
    # Every admitted answer was one model call, and what they cost stays within the budget.
    generated = [a for a in answered if not a["no_context"]]
    assert calls == len(generated) >= 4
    spent = sum((a["usage"]["prompt_tokens"] + a["usage"]["completion_tokens"]) / 1000 for a in generated)
    assert spent <= 2.0
