"""The gateway's records on both databases it supports: migrations without drift, the key store, the audit log."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, event

from services.gateway.audit import AuditLog
from services.gateway.auth.authenticator import Authenticator
from services.gateway.auth.keys import KeyStore, key_prefix
from services.gateway.identity import Principal
from services.gateway.models import Usage
from services.gateway.records.database import Database
from services.gateway.records.models import Base
from services.gateway.usage import UsageLedger
from services.records.database import SYNC_DRIVERS, with_driver
from services.runtime.errors import InvalidArgument, NotFound, Unauthenticated

ADMIN = Principal(tenant="acme", user="ops@acme", via="api-key", key_id="k0")


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gateway.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    db = Database(url)
    await db.migrate()
    yield db
    # Each test starts empty: drop what the migration made, and Alembic's own table.
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    await db.close()


async def test_migrations_match_the_models_with_no_drift(database):
    await database.migrate()  # a second upgrade finds nothing to do
    engine = create_engine(with_driver(database.url, SYNC_DRIVERS))
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


async def test_a_key_is_stored_only_as_a_hash_and_proves_its_tenant(database):
    keys = KeyStore(database)
    issued = await keys.create("acme", "ci", ["query", "ingest"], created_by="ops")
    assert key_prefix(issued.key) == issued.record.prefix and issued.key.startswith(issued.record.prefix + "_")
    stored = (await keys.list("acme"))[0]
    assert stored.key_hash != issued.key and issued.key not in stored.key_hash
    found = await keys.find(issued.key)
    assert found is not None and found.tenant == "acme" and found.scopes == ["query", "ingest"]
    # The right prefix with a wrong secret proves nothing.
    assert await keys.find(issued.record.prefix + "_" + "x" * 43) is None
    assert await keys.list("globex") == []


async def test_revoked_and_expired_keys_are_refused_with_the_reason(database):
    keys = KeyStore(database)
    auth = Authenticator({}, keys, None, key_cache_seconds=0)
    live = await keys.create("acme", "live", ["query"], created_by="ops")
    short = await keys.create(
        "acme", "short", ["query"], created_by="ops", expires_at=datetime.now(UTC) + timedelta(seconds=1)
    )
    caller = await auth.authenticate(live.key)
    assert (caller.tenant, caller.scopes, caller.via) == ("acme", frozenset({"query"}), "api-key")
    await keys.revoke("acme", live.record.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        await auth.authenticate(live.key)
    # Expiry is checked at use, against the stored moment.
    await auth.authenticate(short.key)
    async with database.session() as session:
        record = await session.get(type(short.record), short.record.id)
        record.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    with pytest.raises(Unauthenticated, match="expired"):
        await auth.authenticate(short.key)
    assert [k.name for k in await keys.list("acme")] == ["short"]
    assert [k.name for k in await keys.list("acme", include_revoked=True)] == ["live", "short"]


async def test_a_burst_on_one_key_is_one_database_query_and_a_wrong_key_is_refused_to_all(database):
    keys = KeyStore(database)
    auth = Authenticator({}, keys, None, key_cache_seconds=60)
    issued = await keys.create("acme", "burst", ["query"], created_by="ops")
    lookups: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "FROM api_keys" in statement:
            lookups.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        callers = await asyncio.gather(*(auth.authenticate(issued.key) for _ in range(200)))
        assert {caller.key_id for caller in callers} == {issued.record.id} and len(lookups) == 1
        wrong = issued.record.prefix + "_" + "y" * 43
        refused = await asyncio.gather(*(auth.authenticate(wrong) for _ in range(50)), return_exceptions=True)
        assert all(isinstance(r, Unauthenticated) for r in refused) and len(lookups) == 2
        # A revocation on this replica forgets at once: the next request looks the key up again.
        await keys.revoke("acme", issued.record.id)
        auth.forget()
        lookups.clear()
        with pytest.raises(Unauthenticated, match="revoked"):
            await auth.authenticate(issued.key)
        assert len(lookups) == 1
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)


async def test_another_tenants_key_cannot_be_revoked_and_bad_scopes_are_refused(database):
    keys = KeyStore(database)
    issued = await keys.create("acme", "ci", ["query"], created_by="ops")
    with pytest.raises(NotFound):
        await keys.revoke("globex", issued.record.id)
    with pytest.raises(InvalidArgument, match="scopes"):
        await keys.create("acme", "bad", ["root"], created_by="ops")
    with pytest.raises(InvalidArgument, match="past"):
        await keys.create("acme", "old", ["query"], created_by="ops", expires_at=datetime.now(UTC) - timedelta(1))
    assert (await keys.find(issued.key)).revoked_at is None


async def test_the_audit_log_keeps_who_did_what_per_tenant(database):
    audit = AuditLog(database)
    await audit.record("acme", ADMIN, "key-created", "k1")
    await audit.record("globex", ADMIN, "act-for-tenant", "GET /v1/documents")
    events = await audit.events("globex")
    assert [(e.actor, e.action, e.detail) for e in events] == [("acme/ops@acme", "act-for-tenant", "GET /v1/documents")]


async def test_the_usage_ledger_sums_exactly_per_route_tenant_and_spender(database):
    ledger = UsageLedger(database)
    ann = Principal(tenant="acme", user="ann", via="jwt")
    bob = Principal(tenant="acme", via="api-key", key_id="kb")
    other = Principal(tenant="globex", via="api-key", key_id="kg")
    one_call = Usage(prompt_tokens=100, completion_tokens=20, cost_usd=0.000_123, model_calls=1)
    await ledger.record([ledger.line(ann, "query", one_call, 123, cached=False) for _ in range(3)])
    await ledger.record([ledger.line(ann, "query", Usage(), 0, cached=True)])
    await ledger.record(
        [
            ledger.line(bob, "verify", one_call, 5_000_000, cached=False),
            ledger.line(other, "search", Usage(), 0, cached=False),
        ]
    )
    start, end = datetime.now(UTC) - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1)
    (query,) = await ledger.totals(start, end, by=("route",), tenants=["acme"], spender="user:ann")
    assert (query.group, query.requests, query.cached, query.model_calls) == (("query",), 4, 1, 3)
    assert (query.prompt_tokens, query.completion_tokens, query.cost_usd) == (300, 60, 0.000_369)
    tenants = await ledger.totals(start, end, by=("tenant",))
    assert [(t.group, t.requests) for t in tenants] == [(("acme",), 5), (("globex",), 1)]
    top = await ledger.totals(start, end, by=("tenant", "spender"), order_by_cost=True, limit=2)
    assert [t.group for t in top] == [("acme", "key:kb"), ("acme", "user:ann")] and top[0].cost_usd == 5.0
    # A period that holds none of the rows.
    assert await ledger.totals(end, end + timedelta(minutes=1), by=("tenant",)) == []
