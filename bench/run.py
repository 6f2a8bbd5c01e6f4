"""Query latency and ingest throughput of the real suite (`ragmesh up` on free loopback ports).

Figures are medians and percentiles over repeated calls, each next to a baseline measured in the same run:
- HTTP floor: GET /healthz through the same gateway (what any request costs before ragmesh does work);
- embed ceiling: the embedder alone on the same chunk texts (ingest cannot beat the model).

    python -m bench.run [--documents 1000] [--queries 100] [--concurrency 4]
Results: printed, and written to bench/results/<UTC time>.json.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from ragmesh.suite import free_port

KEY = "bench-key"
console = Console()
_PLACES = ["Harl", "Orvane", "Tessel", "Marrow", "Skerry", "Kestrel", "Ilsa", "Nightjar", "Brack", "Fenwick"]
_THINGS = [
    "ferry",
    "lighthouse",
    "bakery",
    "observatory",
    "archive",
    "foundry",
    "orchard",
    "reservoir",
    "mill",
    "bridge",
]
_FACTS = ["opens at {h}:{m:02d}", "was built in {y}", "employs {n} people", "is {n} metres long", "closes in {mo}"]
_MONTHS = ["January", "March", "May", "July", "September", "November"]


def _document(i: int, rng: random.Random) -> tuple[str, str]:
    """A short Markdown document with a few checkable facts."""
    place, thing = _PLACES[i % 10], _THINGS[(i // 10) % 10]
    facts = [
        f.format(
            h=rng.randint(5, 11),
            m=rng.randint(0, 59),
            y=rng.randint(1800, 2020),
            n=rng.randint(3, 900),
            mo=rng.choice(_MONTHS),
        )
        for f in rng.sample(_FACTS, 3)
    ]
    name = f"The {place} {thing} no. {i}"
    body = f"# {name}\n\n{name} {facts[0]}. It {facts[1]}.\n\n## Notes\n\nLocals say it {facts[2]}.\n"
    return f"doc-{i:04d}.md", body


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 2),
        "p95_ms": round(_percentile(values, 0.95), 2),
        "n": len(values),
    }


class RunningSuite:
    """`ragmesh up` in a child process on free ports, with its own data dir and Redis."""

    def __init__(self, data_dir: Path) -> None:
        self.ports = {
            n: free_port() for n in ("gateway", "embedder", "retriever", "generator", "ingest", "llm", "redis")
        }
        plan = ", ".join(f"{name}_port={port}" for name, port in self.ports.items())
        script = (
            "from pathlib import Path; from ragmesh.suite import SuitePlan, up; "
            f"raise SystemExit(up(SuitePlan(data_dir=Path({str(data_dir)!r}), {plan})))"
        )
        env = {**os.environ, "RAGMESH_GATEWAY_API_KEYS": json.dumps({KEY: "bench"}), "COLUMNS": "120"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
        )
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(x.decode() for x in self.process.stdout), daemon=True).start()

    def wait_up(self, timeout: float = 300) -> float:
        started = time.monotonic()
        with console.status("starting the suite (ragmesh up)…"):
            while not any("ragmesh is up" in line for line in self.lines):
                if self.process.poll() is not None or time.monotonic() - started > timeout:
                    raise RuntimeError("the suite did not start:\n" + "".join(self.lines))
                time.sleep(0.2)
        return time.monotonic() - started

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=60)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )


async def ingest(client: httpx.AsyncClient, count: int, concurrency: int) -> dict:
    rng = random.Random(7)
    docs = [_document(i, rng) for i in range(count)]
    gate = asyncio.Semaphore(concurrency)
    chunks = 0
    with _progress() as bar:
        task = bar.add_task(f"ingesting {count} documents", total=count)

        async def one(name: str, body: str) -> None:
            nonlocal chunks
            async with gate:
                reply = await client.post("/v1/documents", files={"file": (name, body.encode(), "text/markdown")})
                reply.raise_for_status()
                chunks += reply.json()["chunk_count"]
                bar.advance(task)

        started = time.perf_counter()
        await asyncio.gather(*(one(name, body) for name, body in docs))
        elapsed = time.perf_counter() - started
    return {
        "documents": count,
        "chunks": chunks,
        "seconds": round(elapsed, 2),
        "chunks_per_s": round(chunks / elapsed, 1),
        "documents_per_s": round(count / elapsed, 1),
        "texts": [body for _, body in docs],
    }


async def embed_ceiling(target: str, texts: list[str]) -> dict:
    """The embedder alone on the same texts, in the batches ingest uses: the most ingest could reach."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        started = time.perf_counter()
        for start in range(0, len(texts), 64):
            await stub.Embed(embedder_pb2.EmbedRequest(texts=texts[start : start + 64]))
        elapsed = time.perf_counter() - started
    return {"texts": len(texts), "seconds": round(elapsed, 2), "texts_per_s": round(len(texts) / elapsed, 1)}


async def timed(client: httpx.AsyncClient, method: str, path: str, count: int, label: str, body=None) -> list[float]:
    samples = []
    with _progress() as bar:
        task = bar.add_task(label, total=count)
        for i in range(count):
            payload = body(i) if callable(body) else body
            started = time.perf_counter()
            reply = await client.request(method, path, json=payload)
            samples.append((time.perf_counter() - started) * 1000)
            reply.raise_for_status()
            bar.advance(task)
    return samples


def _question(i: int) -> dict:
    # Distinct questions, so the answer cache never serves them.
    return {"question": f"When was the {_PLACES[i % 10]} {_THINGS[(i // 3) % 10]} no. {i * 7 % 1000} built?"}


async def main(args: argparse.Namespace) -> dict:
    results: dict = {"machine": {"cpus": os.cpu_count()}, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory(prefix="ragmesh-bench-") as data_dir:
        suite = RunningSuite(Path(data_dir))
        try:
            results["startup_s"] = round(suite.wait_up(), 2)
            async with httpx.AsyncClient(base_url=suite.url, headers={"X-API-Key": KEY}, timeout=300) as client:
                results["ingest"] = await ingest(client, args.documents, args.concurrency)
                texts = results["ingest"].pop("texts")
                results["embed_ceiling"] = await embed_ceiling(f"127.0.0.1:{suite.ports['embedder']}", texts)
                # Warm-up: the first calls load caches and JIT paths that later calls reuse.
                for i in range(args.warmup):
                    await client.post("/v1/query", json={**_question(10_000 + i), "generate": i % 2 == 0})
                floor = await timed(client, "GET", "/healthz", args.queries, "HTTP floor (/healthz)")
                retrieval = await timed(
                    client,
                    "POST",
                    "/v1/query",
                    args.queries,
                    "query without generation",
                    lambda i: {**_question(i), "generate": False},
                )
                full = await timed(
                    client,
                    "POST",
                    "/v1/query",
                    args.queries,
                    "query with generation (Gemma 3 270M)",
                    lambda i: _question(i + 5_000),
                )
            results["query"] = {
                "http_floor": _summary(floor),
                "without_generation": _summary(retrieval),
                "with_generation": _summary(full),
            }
        finally:
            suite.stop()
    base = results["query"]["http_floor"]["p50_ms"]
    for name in ("without_generation", "with_generation"):
        results["query"][name]["p50_x_floor"] = round(results["query"][name]["p50_ms"] / base, 1)
    results["ingest"]["x_embed_ceiling"] = round(
        results["ingest"]["chunks_per_s"] / results["embed_ceiling"]["texts_per_s"], 2
    )
    return results


def report(results: dict) -> None:
    table = Table(title="ragmesh bench (medians; ratios against baselines from the same run)")
    for column in ("measure", "p50 / rate", "p95", "ratio"):
        table.add_column(column)
    q = results["query"]
    table.add_row(
        "HTTP floor: GET /healthz", f"{q['http_floor']['p50_ms']} ms", f"{q['http_floor']['p95_ms']} ms", "1.0x"
    )
    for name, label in (
        ("without_generation", "POST /v1/query, retrieval only"),
        ("with_generation", "POST /v1/query, with Gemma 3 270M"),
    ):
        table.add_row(label, f"{q[name]['p50_ms']} ms", f"{q[name]['p95_ms']} ms", f"{q[name]['p50_x_floor']}x floor")
    i, e = results["ingest"], results["embed_ceiling"]
    table.add_row(
        f"ingest {i['documents']} docs ({i['chunks']} chunks)",
        f"{i['chunks_per_s']} chunks/s",
        "",
        f"{i['x_embed_ceiling']}x embed ceiling ({e['texts_per_s']} texts/s)",
    )
    table.add_row("suite start (ragmesh up, installed)", f"{results['startup_s']} s", "", "")
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=4)
    arguments = parser.parse_args()
    outcome = asyncio.run(main(arguments))
    report(outcome)
    out = Path(__file__).parent / "results" / f"{outcome['at'].replace(':', '')}.json"
    out.write_text(json.dumps(outcome, indent=2))
    console.print(f"written to {out}")
