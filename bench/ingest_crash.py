"""Crash safety of batch ingest: SIGKILL an ingest process at a random moment of a job, start another on the same
database and artifacts, and check that every acknowledged document ends up indexed exactly once.

Each trial: a fresh tenant; ingest process A takes a `--documents` job (acknowledged: stored and recorded); after a
random delay (0.1 s to about the job's own duration) A is killed with SIGKILL; process B starts on the same
database and object store, takes over A's claimed documents once their lease (2 s) runs out, and finishes the job.
Checked after each trial: every document finished as indexed (or unchanged: the killed worker had indexed it
but not yet recorded so, and the replay found it in place); the catalogue holds exactly the job's documents; the
index holds exactly the chunks the catalogue records, each of the revision the catalogue names (no orphans, no
duplicates). Reported: trials passed, documents taken over from the killed worker, and seconds from the kill to the
job's end (median and worst).

    python -m bench.ingest_crash [--trials 20] [--documents 200] [--database-url postgresql://...]
Results: printed, and written to bench/results/ingest-crash-<UTC time>.json.
"""

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from rich.console import Console

from bench.figures import save
from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from ragmesh.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from ragmesh.suite import free_port, grpc_serving, wait_for
from services.ingest.catalog import Catalog
from services.ingest.records.database import Database
from services.runtime.access import Viewer

console = Console()
LEASE_SECONDS = 2


def _document(i: int) -> ingest_pb2.JobDocument:
    sections = "".join(
        f"## Part {j}\n\nLot {i}-{j} holds {i * 3 + j} barrels of cider pressed in the orchard of farm {i}.\n\n"
        for j in range(1 + i % 3)
    )
    return ingest_pb2.JobDocument(filename=f"lot-{i}.md", content=f"# Lot {i}\n\n{sections}".encode())


def _start(module: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", module], env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def _ready(port: int, process: subprocess.Popen, what: str) -> None:
    await asyncio.to_thread(wait_for, lambda: grpc_serving(port), process, what, 300)


def _ingest_env(port: int, data_dir: Path, embedder: str, retriever: str, database_url: str) -> dict[str, str]:
    return {
        "RAGMESH_INGEST_PORT": str(port),
        "RAGMESH_INGEST_DATA_DIR": str(data_dir),
        "RAGMESH_INGEST_DATABASE_URL": database_url,
        "RAGMESH_INGEST_EMBEDDER_TARGET": embedder,
        "RAGMESH_INGEST_RETRIEVER_TARGET": retriever,
        "RAGMESH_INGEST_JOB_POLL_SECONDS": "0.1",
        "RAGMESH_INGEST_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "RAGMESH_INGEST_WRITE_LEASE_SECONDS": str(LEASE_SECONDS),
    }


async def _job(ingest, tenant: str, job_id: str) -> ingest_pb2.Job:
    return await ingest.GetJob(ingest_pb2.GetJobRequest(tenant=tenant, job_id=job_id), timeout=10)


async def trial(n: int, args, embedder: str, retriever: str, data_dir: Path, database_url: str) -> dict:
    tenant = f"crash-{n}-{random.randrange(1 << 30)}"
    first, second = free_port(), free_port()
    env = lambda port: _ingest_env(port, data_dir, embedder, retriever, database_url)  # noqa: E731
    victim = _start("services.ingest", env(first))
    survivor = None
    try:
        await _ready(first, victim, "ingest")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{first}") as channel:
            ingest = ingest_pb2_grpc.IngestServiceStub(channel)
            submitted = await ingest.SubmitJob(
                ingest_pb2.SubmitJobRequest(tenant=tenant, documents=[_document(i) for i in range(args.documents)]),
                timeout=60,
            )
            await asyncio.sleep(random.uniform(0.1, args.kill_within))
            before = await _job(ingest, tenant, submitted.job_id)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_at = time.monotonic()
        survivor = _start("services.ingest", env(second))
        await _ready(second, survivor, "ingest")
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{second}") as channel,
            grpc.aio.insecure_channel(retriever) as r,
        ):
            ingest = ingest_pb2_grpc.IngestServiceStub(channel)
            while not (job := await _job(ingest, tenant, submitted.job_id)).done:
                if time.monotonic() - killed_at > 300:
                    break
                await asyncio.sleep(0.1)
            recovered = time.monotonic() - killed_at
            # A write the victim left half-done is settled by the reconciler within a lease or two.
            await asyncio.sleep(LEASE_SECONDS * 2 + 0.5)
            database = Database(database_url)
            records, total = await Catalog(database).page(tenant, 500, 0, Viewer(everything=True))
            await database.close()
            index = retriever_pb2_grpc.RetrieverServiceStub(r)
            chunks = (await index.GetStats(retriever_pb2.GetStatsRequest(tenant=tenant))).chunks
            hits = (
                await index.Search(
                    retriever_pb2.SearchRequest(
                        tenant=tenant,
                        text="barrels cider orchard",
                        top_k=1000,
                        mode=retriever_pb2.SEARCH_MODE_SPARSE,
                    )
                )
            ).hits
        revisions = {r.document_id: r.revision for r in records}
        problems = []
        # "unchanged": the killed worker had indexed it but not yet recorded so; the replay found it in place.
        if not job.done or any(item.state not in ("indexed", "unchanged") for item in job.items):
            problems.append(f"job not finished as indexed: {dict(job.counts)}")
        if total != args.documents:
            problems.append(f"{total} documents catalogued, {args.documents} acknowledged")
        if chunks != sum(r.chunk_count for r in records):
            problems.append(f"index holds {chunks} chunks, the catalogue records {sum(r.chunk_count for r in records)}")
        stray = [h.chunk.document_id for h in hits if revisions.get(h.chunk.document_id) != h.chunk.revision]
        if stray:
            problems.append(f"{len(stray)} chunks of a revision the catalogue does not name")
        return {
            "trial": n,
            "passed": not problems,
            "problems": problems,
            "finished_before_kill": before.finished,
            "taken_over": sum(1 for item in job.items if item.attempts > 1),
            "seconds_to_recover": round(recovered, 2),
        }
    finally:
        for process in (victim, survivor):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


async def main(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="ragmesh-crash-") as scratch:
        root = Path(scratch)
        embedder_port, retriever_port = free_port(), free_port()
        services = [
            _start("services.embedder", {"RAGMESH_EMBEDDER_PORT": str(embedder_port)}),
            _start(
                "services.retriever",
                {
                    "RAGMESH_RETRIEVER_PORT": str(retriever_port),
                    "RAGMESH_RETRIEVER_DATA_DIR": str(root / "retriever"),
                    # Every chunk of a trial's tenant in one search, to check each one's revision.
                    "RAGMESH_RETRIEVER_MAX_TOP_K": "1000",
                },
            ),
        ]
        embedder, retriever = f"127.0.0.1:{embedder_port}", f"127.0.0.1:{retriever_port}"
        try:
            await _ready(embedder_port, services[0], "embedder")
            await _ready(retriever_port, services[1], "retriever")
            database_url = args.database_url or f"sqlite:///{root / 'ingest' / 'ingest.db'}"
            results = []
            for n in range(args.trials):
                result = await trial(n, args, embedder, retriever, root / "ingest", database_url)
                results.append(result)
                mark = "[green]ok[/green]" if result["passed"] else f"[red]FAILED[/red] {result['problems']}"
                console.print(
                    f"trial {n + 1}/{args.trials}: {mark}; {result['finished_before_kill']} finished before the "
                    f"kill, {result['taken_over']} taken over, recovered in {result['seconds_to_recover']} s"
                )
        finally:
            for process in services:
                process.terminate()
                process.wait(timeout=30)
    recovery = [r["seconds_to_recover"] for r in results]
    figures = {
        "trials": args.trials,
        "documents_per_job": args.documents,
        "database": "postgresql" if args.database_url.startswith("postgresql") else "sqlite",
        "passed": sum(r["passed"] for r in results),
        "documents_taken_over": sum(r["taken_over"] for r in results),
        "recovery_seconds_p50": statistics.median(recovery),
        "recovery_seconds_max": max(recovery),
        "lease_seconds": LEASE_SECONDS,
        "results": results,
    }
    console.print(
        f"{figures['passed']}/{args.trials} trials with every acknowledged document indexed exactly once; "
        f"{figures['documents_taken_over']} documents taken over from killed workers; recovery after the kill "
        f"{figures['recovery_seconds_p50']} s median, {figures['recovery_seconds_max']} s worst"
    )
    console.print(f"written to {save('ingest-crash', figures)}")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--kill-within", type=float, default=6.0, help="latest kill, seconds after submitting")
    parser.add_argument("--database-url", default="", help="default: a SQLite file in a scratch folder")
    figures = asyncio.run(main(parser.parse_args()))
    raise SystemExit(0 if figures["passed"] == figures["trials"] else 1)
