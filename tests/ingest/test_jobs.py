"""Batch jobs: acknowledged once durable, worked by any replica, every document's outcome and reason shown; a job
waits (saying what for) while the vector store is down and resumes; a worker killed with SIGKILL mid-job has its
documents taken over, and every acknowledged document ends up indexed exactly once."""

import asyncio
import os
import random
import signal
import subprocess
import sys
import time

import grpc
import pytest

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from ragmesh.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from ragmesh.suite import free_port, grpc_serving, wait_for
from services.ingest.catalog import Catalog
from services.ingest.config import IngestSettings
from services.ingest.records.database import Database
from services.ingest.server import create_server
from services.retriever.config import RetrieverSettings
from services.retriever.server import create_server as create_retriever
from tests.servers import running


def _document(i: int, **extra) -> ingest_pb2.JobDocument:
    text = f"# Report {i}\n\nShipment {i} left the harbour of town number {i} carrying {i * 7} crates of pears.\n"
    return ingest_pb2.JobDocument(filename=f"report-{i}.md", content=text.encode(), **extra)


async def _until_done(ingest, tenant: str, job_id: str, seconds: float = 120) -> ingest_pb2.Job:
    deadline = time.monotonic() + seconds
    while True:
        job = await ingest.GetJob(ingest_pb2.GetJobRequest(tenant=tenant, job_id=job_id), timeout=10)
        if job.done or time.monotonic() > deadline:
            return job
        await asyncio.sleep(0.2)


async def _agree(database: Database, retriever, tenant: str) -> tuple[int, int]:
    """Catalogue and index agree for the tenant: the index holds exactly the chunks of each document's catalogued
    revision. (documents, chunks)."""
    catalog = Catalog(database)
    records, total = await catalog.page(tenant, 500, 0, _everyone())
    stats = await retriever.GetStats(retriever_pb2.GetStatsRequest(tenant=tenant))
    assert stats.chunks == sum(r.chunk_count for r in records), (stats.chunks, total)
    return total, stats.chunks


def _everyone():
    from services.runtime.access import Viewer

    return Viewer(everything=True)


@pytest.fixture
async def service(suite, tmp_path):
    settings = IngestSettings(
        data_dir=tmp_path, embedder_target=suite.embedder, retriever_target=suite.retriever, job_poll_seconds=0.1
    )
    async with (
        running(create_server(settings)) as target,
        grpc.aio.insecure_channel(target) as channel,
        grpc.aio.insecure_channel(suite.retriever) as r,
    ):
        database = Database(f"sqlite:///{tmp_path / 'ingest.db'}")
        yield ingest_pb2_grpc.IngestServiceStub(channel), retriever_pb2_grpc.RetrieverServiceStub(r), database
        await database.close()


async def test_a_job_shows_each_documents_outcome_with_its_reason(service):
    ingest, retriever, database = service
    tenant = "t-job"
    documents = [
        _document(1, document_id="r1", metadata=ingest_pb2.DocumentMetadata(tags=["pears"], licence="CC-BY-4.0")),
        _document(2),
        # The same text as the first, for the same readers: recorded against it, not indexed twice.
        ingest_pb2.JobDocument(filename="copy.md", content=_document(1).content),
        ingest_pb2.JobDocument(filename="empty.md", content=b""),
        ingest_pb2.JobDocument(filename="latin1.txt", content="caf\xe9".encode("latin-1")),
    ]
    submitted = await ingest.SubmitJob(
        ingest_pb2.SubmitJobRequest(tenant=tenant, documents=documents, submitted_by="t-job/ana")
    )
    # Acknowledged at once, every document recorded.
    assert submitted.job_id.startswith("job_") and submitted.total == 5 and len(submitted.items) == 5
    job = await _until_done(ingest, tenant, submitted.job_id)
    states = [(item.name, item.state) for item in job.items]
    assert states == [
        ("report-1.md", "indexed"),
        ("report-2.md", "indexed"),
        ("copy.md", "duplicate"),
        ("empty.md", "quarantined"),
        ("latin1.txt", "quarantined"),
    ]
    assert job.done and job.finished == 5 and dict(job.counts) == {"indexed": 2, "duplicate": 1, "quarantined": 2}
    assert job.items[0].document_id == "r1" and job.items[0].chunk_count == 1
    assert job.items[2].duplicate_of == "r1" and job.items[2].similarity == pytest.approx(1.0)
    assert "empty" in job.items[3].reason and "utf-8" in job.items[4].reason.lower()
    assert job.submitted_by == "t-job/ana"
    # What it was sent with came through, and catalogue and index agree.
    record = await Catalog(database).get(tenant, "r1")
    assert record.tags == ["pears"] and record.licence == "CC-BY-4.0"
    assert await _agree(database, retriever, tenant) == (2, 2)
    # Another tenant cannot see the job; an unknown one is NOT_FOUND.
    for other, job_id in (("t-other", submitted.job_id), (tenant, "job_missing")):
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await ingest.GetJob(ingest_pb2.GetJobRequest(tenant=other, job_id=job_id))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    # Submitting the same documents again changes nothing.
    again = await _until_done(
        ingest,
        tenant,
        (await ingest.SubmitJob(ingest_pb2.SubmitJobRequest(tenant=tenant, documents=documents[:2]))).job_id,
    )
    assert [item.state for item in again.items] == ["unchanged", "unchanged"]


async def test_a_job_is_refused_whole_when_it_breaks_a_bound(service):
    ingest, _, _ = service
    for request, message in (
        (ingest_pb2.SubmitJobRequest(tenant="t-job"), "at least one document"),
        (ingest_pb2.SubmitJobRequest(documents=[_document(1)]), "tenant is required"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await ingest.SubmitJob(request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in refused.value.details()


async def test_a_job_waits_while_the_vector_store_is_down_says_so_and_resumes(suite, tmp_path):
    port = free_port()
    settings = IngestSettings(
        data_dir=tmp_path / "ingest",
        embedder_target=suite.embedder,
        retriever_target=f"127.0.0.1:{port}",
        job_poll_seconds=0.1,
        job_retry_first_seconds=0.2,
        job_retry_most_seconds=1.0,
        call_timeout_seconds=2.0,
    )
    async with running(create_server(settings)) as target, grpc.aio.insecure_channel(target) as channel:
        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        tenant = "t-waiting"
        submitted = await ingest.SubmitJob(
            ingest_pb2.SubmitJobRequest(tenant=tenant, documents=[_document(i) for i in range(3)])
        )
        # Nothing listens where the vector store should be: the documents wait, and say what for.
        waiting = None
        for _ in range(100):
            job = await ingest.GetJob(ingest_pb2.GetJobRequest(tenant=tenant, job_id=submitted.job_id))
            waiting = [item for item in job.items if item.attempts >= 2 and "vector store" in item.reason]
            if len(waiting) == 3:
                break
            await asyncio.sleep(0.1)
        assert len(waiting) == 3 and not job.done, [(i.state, i.reason) for i in job.items]
        assert all(item.state in ("queued", "extracting", "embedding") for item in job.items)
        # The vector store comes up on its port: the job resumes and finishes, nothing lost.
        retriever_settings = RetrieverSettings(data_dir=tmp_path / "retriever", port=port)
        async with running(create_retriever(retriever_settings)), grpc.aio.insecure_channel(f"127.0.0.1:{port}") as r:
            job = await _until_done(ingest, tenant, submitted.job_id, seconds=90)
            assert [item.state for item in job.items] == ["indexed"] * 3, [(i.state, i.reason) for i in job.items]
            database = Database(f"sqlite:///{tmp_path / 'ingest' / 'ingest.db'}")
            assert await _agree(database, retriever_pb2_grpc.RetrieverServiceStub(r), tenant) == (3, 3)
            await database.close()


def _ingest_process(suite, data_dir, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "RAGMESH_INGEST_PORT": str(port),
        "RAGMESH_INGEST_DATA_DIR": str(data_dir),
        "RAGMESH_INGEST_EMBEDDER_TARGET": suite.embedder,
        "RAGMESH_INGEST_RETRIEVER_TARGET": suite.retriever,
        "RAGMESH_INGEST_JOB_POLL_SECONDS": "0.1",
        # A killed worker's documents are taken over after this.
        "RAGMESH_INGEST_JOB_LEASE_SECONDS": "2",
        "RAGMESH_INGEST_WRITE_LEASE_SECONDS": "2",
    }
    return subprocess.Popen([sys.executable, "-m", "services.ingest"], env=env, stdout=subprocess.DEVNULL)


@pytest.mark.parametrize("trial", range(2))
async def test_a_worker_killed_mid_job_loses_and_duplicates_nothing(suite, tmp_path, trial):
    """SIGKILL at a random moment of a 40-document job; a second process takes over. (bench/ingest_crash.py runs
    the same with 200 documents, 20 times.)"""
    tenant = f"t-crash-{trial}"
    first, second = free_port(), free_port()
    victim = _ingest_process(suite, tmp_path, first)
    survivor = None
    try:
        await asyncio.to_thread(wait_for, lambda: grpc_serving(first), victim, "ingest", 120)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{first}") as channel:
            submitted = await ingest_pb2_grpc.IngestServiceStub(channel).SubmitJob(
                ingest_pb2.SubmitJobRequest(tenant=tenant, documents=[_document(i) for i in range(40)])
            )
        await asyncio.sleep(random.uniform(0.2, 2.0))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        survivor = _ingest_process(suite, tmp_path, second)
        await asyncio.to_thread(wait_for, lambda: grpc_serving(second), survivor, "ingest", 120)
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{second}") as channel,
            grpc.aio.insecure_channel(suite.retriever) as r,
        ):
            ingest = ingest_pb2_grpc.IngestServiceStub(channel)
            job = await _until_done(ingest, tenant, submitted.job_id, seconds=120)
            # "unchanged": the victim had indexed it but not yet recorded so; the replay found it in place.
            assert job.done and {item.state for item in job.items} <= {"indexed", "unchanged"}, dict(job.counts)
            database = Database(f"sqlite:///{tmp_path / 'ingest.db'}")
            # Reconciliation of a write the victim left runs every write lease (2 s).
            for _ in range(50):
                try:
                    assert await _agree(database, retriever_pb2_grpc.RetrieverServiceStub(r), tenant) == (40, 40)
                    break
                except AssertionError:
                    await asyncio.sleep(0.2)
            assert await _agree(database, retriever_pb2_grpc.RetrieverServiceStub(r), tenant) == (40, 40)
            await database.close()
    finally:
        for process in (victim, survivor):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


async def test_the_same_text_sent_at_once_under_several_ids_is_indexed_once(service):
    ingest, retriever, database = service
    text = b"# Mooring rules\n\nBoats moor bow first at the Tessel pontoon and pay the harbour master on arrival.\n"
    replies = await asyncio.gather(
        *(
            ingest.IngestDocument(
                ingest_pb2.IngestDocumentRequest(
                    tenant="t-same", document_id=f"rules-{i}", filename="r.md", content=text
                )
            )
            for i in range(4)
        )
    )
    statuses = sorted(ingest_pb2.IngestStatus.Name(reply.status) for reply in replies)
    assert statuses == ["INGEST_STATUS_CREATED"] + ["INGEST_STATUS_DUPLICATE"] * 3
    assert await _agree(database, retriever, "t-same") == (1, 1)
