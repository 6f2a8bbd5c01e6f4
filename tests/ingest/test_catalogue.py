"""The ingest catalogue on both databases it supports (SQLite on one machine, PostgreSQL shared by replicas):
migrations without drift, retention, one writer per document across replicas, and what a dead writer leaves."""

import asyncio

import grpc
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from ragmesh.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from services.ingest.catalog import Catalog, DocumentRecord, LeaseLost
from services.ingest.config import IngestSettings
from services.ingest.quarantine import HELD, Quarantine
from services.ingest.records.database import Database
from services.ingest.records.models import Base
from services.ingest.server import create_server
from services.ingest.writes import DocumentWrites, StaleWrite
from services.records.database import SYNC_DRIVERS, with_driver
from services.runtime.errors import Unavailable
from tests.servers import running

VERSION_TABLE = "ingest_alembic_version"


async def _drop(db: Database) -> None:
    """Each test starts empty: drop what the migration made, and Alembic's own table."""
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.exec_driver_sql(f"DROP TABLE IF EXISTS {VERSION_TABLE}")


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'ingest.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    db = Database(url)
    await db.migrate()
    yield db
    await _drop(db)
    await db.close()


def _ours(name: str | None, type_: str, parent: dict) -> bool:
    # The gateway keeps its own tables in the same PostgreSQL database; only ours are compared.
    return type_ != "table" or name in Base.metadata.tables


async def test_migrations_match_the_models_with_no_drift(database):
    await database.migrate()  # a second upgrade finds nothing to do
    engine = create_engine(with_driver(database.url, SYNC_DRIVERS))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE, "include_name": _ours})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def _record(document_id: str, revision: str, users: list[str] | None = None) -> DocumentRecord:
    return DocumentRecord(
        tenant="acme",
        document_id=document_id,
        filename=f"{document_id}.md",
        content_type="text/markdown",
        title=document_id,
        source="",
        tags=["b", "a"],
        chunk_count=2,
        content_hash="h-" + revision,
        attributes={"team": ["ops", "sre"]},
        allowed_users=users or [],
        revision=revision,
    )


async def test_records_are_listed_for_their_readers_and_every_change_moves_the_corpus_version(database):
    catalog = Catalog(database)
    from services.runtime.access import Viewer

    await catalog.save(_record("open", "r1"), "created", {})
    first = await catalog.corpus_version("acme")
    await catalog.save(_record("secret", "r1", users=["ana"]), "created", {})
    assert int(await catalog.corpus_version("acme")) > int(first)
    assert await catalog.corpus_version("globex") == "0"
    everyone, total = await catalog.page("acme", 10, 0, Viewer(user="bob"))
    assert [r.document_id for r in everyone] == ["open"] and total == 1
    ana, total = await catalog.page("acme", 10, 0, Viewer(user="ana"))
    assert [r.document_id for r in ana] == ["open", "secret"] and total == 2
    stored = await catalog.get("acme", "open")
    assert stored.tags == ["b", "a"] and stored.attributes == {"team": ["ops", "sre"]} and stored.revision == "r1"
    assert await catalog.observed_values("acme", "team", 10) == ["ops", "sre"]
    # A replacement keeps the creation time; a delete removes the side rows with the record.
    created = stored.created_at
    await catalog.save(_record("open", "r2"), "updated", {})
    assert (await catalog.get("acme", "open")).created_at == created
    await catalog.delete("acme", "open", {})
    assert await catalog.get("acme", "open") is None
    assert await catalog.documents_carrying("acme", "team") == 1
    actions = [(e["document_id"], e["action"]) for e in await catalog.audit_log("acme")]
    assert actions == [("open", "created"), ("secret", "created"), ("open", "updated"), ("open", "deleted")]


async def test_quarantine_and_audit_entries_go_after_their_retention_but_each_tenants_version_stays(database):
    catalog, quarantine = Catalog(database), Quarantine(database)
    await quarantine.add("acme", "old.pdf", "application/pdf", 10, "unreadable")
    held = await quarantine.add("acme", "odd.md", "text/markdown", 10, "reads like an injection", kind=HELD)
    await catalog.record("acme", "a", "created", {})
    await catalog.record("acme", "b", "created", {})
    await catalog.record("globex", "c", "created", {})
    version = await catalog.corpus_version("acme"), await catalog.corpus_version("globex")
    assert [e.kind for e in await quarantine.entries("acme")] == ["refused", HELD]
    assert (await quarantine.get("acme", held)).reason == "reads like an injection"
    # Everything is "older" than a retention of minus one day; nothing is older than a year.
    assert await quarantine.prune(365) == [] and await catalog.prune_audit(365) == 0
    assert len(await quarantine.prune(-1)) == 2 and await catalog.prune_audit(-1) == 1
    assert (await catalog.corpus_version("acme"), await catalog.corpus_version("globex")) == version
    assert [e["document_id"] for e in await catalog.audit_log("acme")] == ["b"]
    assert await quarantine.entries("acme") == [] and await quarantine.count() == 0


async def test_one_writer_per_document_and_a_dead_writers_lease_is_taken_over(database):
    catalog = Catalog(database)
    dead = DocumentWrites(database, "replica-a", lease_seconds=0.5, wait_seconds=0)
    alive = DocumentWrites(database, "replica-b", lease_seconds=30, wait_seconds=0)
    # Replica a takes the document, names the revision it is writing, and dies (it never renews).
    assert await dead.acquire("acme", "doc", wait=0) is None
    await dead.begin("acme", "doc", "rev-a")
    with pytest.raises(Unavailable, match="being written"):
        await alive.acquire("acme", "doc", wait=0)
    # Another document is not held up.
    async with alive.hold("acme", "other") as stale:
        assert stale is None
    await asyncio.sleep(0.7)
    async with alive.hold("acme", "doc") as stale:
        # What a dead writer left: the revision it was writing, never named by the catalogue.
        assert stale == StaleWrite("acme", "doc", "rev-a", committed=False)
        # The dead replica, come back, can no longer commit: its outcome does not stand.
        with pytest.raises(LeaseLost):
            await catalog.save(_record("doc", "rev-a"), "created", {}, holder="replica-a")
        assert await catalog.get("acme", "doc") is None
        await alive.begin("acme", "doc", "rev-b")
        await catalog.save(_record("doc", "rev-b"), "created", {}, holder="replica-b")
    assert (await catalog.get("acme", "doc")).revision == "rev-b"
    # Released: the next writer finds nothing left over, and nothing of the lease stays behind.
    assert await alive.expired() == []
    async with alive.hold("acme", "doc") as stale:
        assert stale is None


async def test_a_writer_that_fails_before_naming_a_revision_leaves_no_lease(database):
    writes = DocumentWrites(database, "replica-a", lease_seconds=30, wait_seconds=0)
    with pytest.raises(RuntimeError):
        async with writes.hold("acme", "doc"):
            raise RuntimeError("refused before any chunk was written")
    async with writes.hold("acme", "doc", wait=False) as stale:
        assert stale is None
    with pytest.raises(RuntimeError):
        async with writes.hold("acme", "doc"):
            await writes.begin("acme", "doc", "rev-1")
            raise RuntimeError("died half-way")
    # Its lease ends at once: the next writer settles what it may have left.
    assert [s.revision for s in await writes.expired()] == ["rev-1"]


SHORT = "# Contract\n\nThe rent is due on the first day of each month.\n"
LONG = "".join(
    f"# Clause {i}\n\n" + f"Clause {i} says the tenant keeps the garden tidy. " * 30 + "\n\n" for i in range(6)
)


async def _index_state(retriever, tenant: str) -> tuple[int, set[str]]:
    """How many chunks the index holds for the tenant, and the revisions they carry."""
    stats = await retriever.GetStats(retriever_pb2.GetStatsRequest(tenant=tenant))
    hits = (
        await retriever.Search(
            retriever_pb2.SearchRequest(
                tenant=tenant, text="contract clause rent garden", top_k=100, mode=retriever_pb2.SEARCH_MODE_SPARSE
            )
        )
    ).hits
    return stats.chunks, {hit.chunk.revision for hit in hits}


async def test_two_replicas_writing_one_document_at_once_leave_one_whole_revision(suite, postgres_url, tmp_path):
    """Two ingest services on one PostgreSQL database, each sent alternating revisions of the same document at
    once: afterwards the index holds exactly the chunks of the revision the catalogue names."""
    shared = Database(postgres_url)
    settings = {"embedder_target": suite.embedder, "retriever_target": suite.retriever, "database_url": postgres_url}
    try:
        async with (
            running(create_server(IngestSettings(data_dir=tmp_path, **settings))) as one,
            running(create_server(IngestSettings(data_dir=tmp_path, **settings))) as two,
            grpc.aio.insecure_channel(one) as a,
            grpc.aio.insecure_channel(two) as b,
            grpc.aio.insecure_channel(suite.retriever) as r,
        ):
            stubs = [ingest_pb2_grpc.IngestServiceStub(a), ingest_pb2_grpc.IngestServiceStub(b)]
            retriever = retriever_pb2_grpc.RetrieverServiceStub(r)
            tenant = "t-replicas"
            replies = await asyncio.gather(
                *(
                    stubs[i % 2].IngestDocument(
                        ingest_pb2.IngestDocumentRequest(
                            tenant=tenant,
                            document_id="contract",
                            filename="contract.md",
                            content=(SHORT if i % 3 else LONG).encode(),
                        ),
                        timeout=120,
                    )
                    for i in range(6)
                )
            )
            assert {reply.document_id for reply in replies} == {"contract"}
            record = await Catalog(shared).get(tenant, "contract")
            chunks, revisions = await _index_state(retriever, tenant)
            assert chunks == record.chunk_count and revisions == {record.revision}
            document = await stubs[1].GetDocument(ingest_pb2.GetDocumentRequest(tenant=tenant, document_id="contract"))
            assert document.chunk_count == record.chunk_count
            assert await DocumentWrites(shared, "check", 30, 0).expired() == []
    finally:
        await _drop(shared)
        await shared.close()


async def test_what_a_dead_writer_left_in_the_index_is_removed_by_the_reconciler(suite, tmp_path):
    """A replica died after writing some chunks of a new revision and before the catalogue named it: the next
    reconciliation removes them and the old revision stays whole."""
    settings = IngestSettings(
        data_dir=tmp_path, embedder_target=suite.embedder, retriever_target=suite.retriever, write_lease_seconds=0.5
    )
    async with (
        running(create_server(settings)) as target,
        grpc.aio.insecure_channel(target) as channel,
        grpc.aio.insecure_channel(suite.retriever) as r,
    ):
        ingest, retriever = ingest_pb2_grpc.IngestServiceStub(channel), retriever_pb2_grpc.RetrieverServiceStub(r)
        tenant = "t-reconcile"
        await ingest.IngestDocument(
            ingest_pb2.IngestDocumentRequest(
                tenant=tenant, document_id="contract", filename="c.md", content=LONG.encode()
            )
        )
        database = Database(f"sqlite:///{tmp_path / 'ingest.db'}")
        record = await Catalog(database).get(tenant, "contract")
        whole = await _index_state(retriever, tenant)
        # The dead replica: it took the lease, named its revision, wrote one chunk of it, and stopped.
        dead = DocumentWrites(database, "dead-replica", lease_seconds=0.1, wait_seconds=0)
        await dead.acquire(tenant, "contract", wait=0)
        await dead.begin(tenant, "contract", "half-written")
        orphan = retriever_pb2.Chunk(
            id="00000000-0000-4000-8000-000000000001", document_id="contract", text="An orphan clause of the contract."
        )
        orphan.revision = "half-written"
        orphan.dense.extend([0.1] * 384)
        await retriever.Upsert(retriever_pb2.UpsertRequest(tenant=tenant, chunks=[orphan]))
        assert (await _index_state(retriever, tenant))[0] == whole[0] + 1

        # The reconciler runs every lease period; the orphan goes and the catalogue's revision stays whole. The
        # audit entry is written just after the chunks go: wait for both, not for the first.
        async def settled() -> tuple[tuple[int, set[str]], str]:
            actions = [e["action"] for e in await Catalog(database).audit_log(tenant)]
            return await _index_state(retriever, tenant), actions[-1]

        for _ in range(200):
            if await settled() == (whole, "ingest-discarded"):
                break
            await asyncio.sleep(0.1)
        assert await settled() == (whole, "ingest-discarded")
        assert whole == (record.chunk_count, {record.revision})
        await database.close()


LEGACY = """
CREATE TABLE documents (tenant TEXT, document_id TEXT, filename TEXT, content_type TEXT, title TEXT, source TEXT,
    tags TEXT, licence TEXT, chunk_count INTEGER, size_bytes INTEGER, content_hash TEXT, created_at TEXT,
    updated_at TEXT, attributes TEXT NOT NULL DEFAULT '{}', allowed_users TEXT NOT NULL DEFAULT '[]',
    allowed_groups TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (tenant, document_id));
CREATE TABLE metadata_schemas (tenant TEXT PRIMARY KEY, fields TEXT, updated_at TEXT);
CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, tenant TEXT, document_id TEXT, action TEXT,
    detail TEXT);
CREATE TABLE quarantine (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, tenant TEXT, filename TEXT,
    content_type TEXT, size_bytes INTEGER, reason TEXT);
"""


async def test_a_catalogue_from_before_the_sql_records_is_imported_once_and_nothing_is_lost(database, tmp_path):
    import sqlite3

    from services.ingest.legacy import import_legacy
    from services.runtime.access import Viewer

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    with sqlite3.connect(legacy / "catalog.sqlite3") as db:
        db.executescript(LEGACY)
        db.execute(
            "INSERT INTO documents VALUES ('acme', 'handbook', 'h.md', 'text/markdown', 'Handbook', 'wiki', '[\"ops\"]',"
            " 'internal', 3, 120, 'abc', '2026-01-02T03:04:05.000Z', '2026-01-03T03:04:05.000Z', '{\"team\": \"sre\"}',"
            " '[\"ana\"]', '[]')"
        )
        db.execute("INSERT INTO metadata_schemas VALUES ('acme', '[]', '2026-01-01T00:00:00.000Z')")
        for i in range(41, 44):
            db.execute(
                "INSERT INTO audit VALUES (?, '2026-01-02T03:04:05.000Z', 'acme', 'handbook', 'created', '{}')", (i,)
            )
        db.execute(
            "INSERT INTO quarantine VALUES (1, '2026-01-02T00:00:00.000Z', 'acme', 'x.pdf', 'application/pdf', 9, 'bad')"
        )
    catalog = Catalog(database)
    assert await import_legacy(legacy, database) == 1
    record = await catalog.get("acme", "handbook")
    assert record.tags == ["ops"] and record.attributes == {"team": "sre"} and record.allowed_users == ["ana"]
    assert record.created_at == "2026-01-02T03:04:05.000Z" and record.chunk_count == 3
    assert [r.document_id for r in (await catalog.page("acme", 10, 0, Viewer(user="ana")))[0]] == ["handbook"]
    assert (await catalog.page("acme", 10, 0, Viewer(user="bob")))[1] == 0
    # The corpus version carries on from the old one and moves forward from there.
    assert await catalog.corpus_version("acme") == "43"
    await catalog.record("acme", "handbook", "updated", {})
    assert int(await catalog.corpus_version("acme")) > 43
    assert [e.reason for e in await Quarantine(database).entries("acme")] == ["bad"]
    # Imported once: the file is set aside.
    assert not (legacy / "catalog.sqlite3").exists() and (legacy / "catalog.sqlite3.imported").exists()
    assert await import_legacy(legacy, database) == 0
