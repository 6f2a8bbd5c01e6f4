"""API keys through the public API: issued by an admin, scoped, revoked on every replica within a second; an
operator acting for another tenant, audited. Two gateway replicas share one PostgreSQL, as in production."""

import asyncio
import contextlib
import time

import pytest

from ragmesh.suite import redis_server
from tests.conftest import ACME, GLOBEX
from tests.servers import gateway, postgres_server

OPS = {"X-API-Key": "key-ops"}


@pytest.fixture(scope="module")
async def replicas(suite, postgres_url):
    """Two gateways on one database (each with its own process state), bootstrap keys for three tenants."""
    settings = suite.gateway_settings(
        database_url=postgres_url,
        api_keys={"key-acme": "acme", "key-globex": "globex", "key-ops": "ops"},
        operator_tenants=["ops"],
    )
    async with gateway(settings) as first, gateway(settings) as second:
        yield first, second


async def _create(api, headers, **body) -> dict:
    reply = await api.post("/v1/admin/keys", headers=headers, json={"name": "test", **body})
    assert reply.status_code == 201, reply.text
    return reply.json()


async def test_a_query_key_queries_but_cannot_ingest_or_administer(replicas):
    first, second = replicas
    created = await _create(first, ACME, scopes=["query"], name="reader")
    assert created["key"].startswith(created["prefix"]) and created["tenant"] == "acme"
    reader = {"X-API-Key": created["key"]}
    assert (await second.get("/v1/documents", headers=reader)).status_code == 200
    upload = await second.post("/v1/documents", headers=reader, files={"file": ("a.txt", b"text", "text/plain")})
    assert upload.status_code == 403 and "'ingest' scope" in upload.json()["detail"]
    assert (await second.get("/v1/admin/keys", headers=reader)).status_code == 403
    listed = (await second.get("/v1/admin/keys", headers=ACME)).json()["keys"]
    assert created["id"] in {k["id"] for k in listed} and all("key" not in k for k in listed)


async def test_a_revoked_key_is_refused_on_every_replica_within_a_second(replicas):
    first, second = replicas
    created = await _create(first, ACME, scopes=["query"], name="short-lived")
    key = {"X-API-Key": created["key"]}
    # Both replicas have it cached as valid.
    assert (await first.get("/v1/documents", headers=key)).status_code == 200
    assert (await second.get("/v1/documents", headers=key)).status_code == 200
    revoked = await first.delete(f"/v1/admin/keys/{created['id']}", headers=ACME)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    started = time.monotonic()
    # The replica that revoked refuses at once.
    assert (await first.get("/v1/documents", headers=key)).status_code == 401
    while (await second.get("/v1/documents", headers=key)).status_code != 401:
        assert time.monotonic() - started < 1.5, "the other replica still accepts a revoked key"
        await asyncio.sleep(0.05)
    reply = await second.get("/v1/documents", headers=key)
    assert "revoked" in reply.json()["detail"]


async def test_keys_of_one_tenant_are_invisible_and_unrevocable_to_another(replicas):
    first, _ = replicas
    created = await _create(first, ACME, scopes=["query"])
    assert created["id"] not in {k["id"] for k in (await first.get("/v1/admin/keys", headers=GLOBEX)).json()["keys"]}
    assert (await first.delete(f"/v1/admin/keys/{created['id']}", headers=GLOBEX)).status_code == 404
    assert (await first.get("/v1/documents", headers={"X-API-Key": created["key"]})).status_code == 200


async def test_only_an_operator_may_act_for_another_tenant_and_it_is_audited(replicas):
    first, _ = replicas
    refused = await first.get("/v1/documents", headers={**ACME, "X-Ragmesh-Tenant": "globex"})
    assert refused.status_code == 403
    acted = await first.get("/v1/admin/keys", headers={**OPS, "X-Ragmesh-Tenant": "globex"})
    assert acted.status_code == 200
    audit = (await first.get("/v1/admin/audit", headers=GLOBEX)).json()["events"]
    assert audit[0]["action"] == "act-for-tenant" and audit[0]["actor"].startswith("ops/")
    assert audit[0]["detail"] == "GET /v1/admin/keys"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"scopes": ["root"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"tenant": "globex"}, "tenant"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "past"),
    ],
)
async def test_bad_key_requests_are_422_with_the_reason(replicas, body, fragment):
    first, _ = replicas
    reply = await first.post("/v1/admin/keys", headers=ACME, json={"name": "bad", **body})
    assert reply.status_code == 422 and fragment in reply.text


async def test_the_gateway_reaches_a_redis_that_demands_a_password(suite, tmp_path):
    with redis_server(tmp_path, password="s3cret-pw") as url:
        for password, state in (("s3cret-pw", "serving"), (None, "unreachable")):
            settings = suite.gateway_settings(redis_url=url, redis_password=password)
            async with gateway(settings) as api:
                key = {"X-API-Key": next(iter(settings.api_keys))}
                ready = (await api.get("/v1/admin/status", headers=key)).json()["dependencies"]["redis"]
                assert ready.startswith(state), ready


async def test_a_records_database_that_stops_answering_is_a_503_never_a_500(suite):
    """Stored keys need the database: when it is gone, a request with one fails closed, saying to come back."""
    with contextlib.ExitStack() as database:
        url = database.enter_context(postgres_server())
        settings = suite.gateway_settings(database_url=url, api_keys={"key-db": "db-down"}, key_cache_seconds=0)
        async with gateway(settings) as api:
            stored = {"X-API-Key": (await _create(api, {"X-API-Key": "key-db"}, scopes=["query"]))["key"]}
            assert (await api.post("/v1/search", headers=stored, json={"query": "anything"})).status_code == 200
            database.close()  # PostgreSQL stops; the gateway keeps running
            reply = await api.post("/v1/search", headers=stored, json={"query": "anything"})
            assert reply.status_code == 503 and reply.headers["Retry-After"] == "1"
            assert "database is unavailable" in reply.json()["detail"] and "postgres" not in reply.text.lower()
            # A bootstrap key needs no database and is still served.
            assert (
                await api.post("/v1/search", headers={"X-API-Key": "key-db"}, json={"query": "x"})
            ).status_code == 200
