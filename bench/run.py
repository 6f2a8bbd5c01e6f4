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
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bench.figures import percentile
from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from ragmesh.suite import BackgroundSuite

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
_MONTHS = ["January", "March", "May", "July", "September", "November"]


@dataclass
class Probe:
    """A document with one fact in it, the question that asks for the fact, and the answer's key value."""

    filename: str
    body: str
    question: str
    value: str
    document_id: str = ""


def _probe(i: int, rng: random.Random) -> Probe:
    name = f"the {_PLACES[i % 10]} {_THINGS[(i // 10) % 10]} number {i}"
    year, staff, length = rng.randint(1800, 2020), rng.randint(3, 900), rng.randint(10, 990)
    hour, minute, month = rng.randint(5, 11), rng.randint(0, 59), rng.choice(_MONTHS)
    facts = [
        (f"{name.capitalize()} was built in {year}.", f"When was {name} built?", str(year)),
        (f"{name.capitalize()} employs {staff} people.", f"How many people does {name} employ?", str(staff)),
        (f"{name.capitalize()} is {length} metres long.", f"How long is {name}?", str(length)),
        (f"{name.capitalize()} opens at {hour}:{minute:02d}.", f"When does {name} open?", f"{hour}:{minute:02d}"),
        (f"{name.capitalize()} closes for the winter in {month}.", f"When does {name} close for the winter?", month),
    ]
    rng.shuffle(facts)
    body = f"# {name.capitalize()}\n\n{facts[0][0]} {facts[1][0]}\n\n## Notes\n\n{facts[2][0]}\n"
    return Probe(f"doc-{i:04d}.md", body, facts[0][1], facts[0][2])


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 2),
        "p95_ms": round(percentile(values, 0.95), 2),
        "n": len(values),
    }


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )


async def ingest(client: httpx.AsyncClient, probes: list[Probe], concurrency: int) -> dict:
    count = len(probes)
    gate = asyncio.Semaphore(concurrency)
    chunks = 0
    with _progress() as bar:
        task = bar.add_task(f"ingesting {count} documents", total=count)

        async def one(probe: Probe) -> None:
            nonlocal chunks
            async with gate:
                reply = await client.post(
                    "/v1/documents", files={"file": (probe.filename, probe.body.encode(), "text/markdown")}
                )
                reply.raise_for_status()
                probe.document_id = reply.json()["document_id"]
                chunks += reply.json()["chunk_count"]
                bar.advance(task)

        started = time.perf_counter()
        await asyncio.gather(*(one(probe) for probe in probes))
        elapsed = time.perf_counter() - started
    return {
        "documents": count,
        "chunks": chunks,
        "seconds": round(elapsed, 2),
        "chunks_per_s": round(chunks / elapsed, 1),
        "documents_per_s": round(count / elapsed, 1),
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


async def timed(client: httpx.AsyncClient, method: str, path: str, count: int, label: str, body=None):
    """Sequential calls; the latencies in ms and the response bodies."""
    samples, bodies = [], []
    with _progress() as bar:
        task = bar.add_task(label, total=count)
        for i in range(count):
            payload = body(i) if callable(body) else body
            started = time.perf_counter()
            reply = await client.request(method, path, json=payload)
            samples.append((time.perf_counter() - started) * 1000)
            reply.raise_for_status()
            bodies.append(reply.json())
            bar.advance(task)
    return samples, bodies


def grounding(probes: list[Probe], bodies: list[dict]) -> dict:
    """How often the top citation is the document holding the fact, the answer states the fact, and the
    answer's words come from a passage it cites (support >= 0.5)."""
    right_document = states_fact = supported = 0
    for probe, body in zip(probes, bodies, strict=True):
        citations = body.get("citations", [])
        right_document += bool(citations) and citations[0]["document_id"] == probe.document_id
        states_fact += probe.value.lower() in body.get("answer", "").lower()
        supported += any(c["cited"] and c["support"] >= 0.5 for c in citations)
    n = len(bodies)
    return {
        "questions": n,
        "top_citation_is_the_source": round(right_document / n, 3),
        "answer_states_the_fact": round(states_fact / n, 3),
        "answer_supported_by_a_cited_passage": round(supported / n, 3),
    }


async def main(args: argparse.Namespace) -> dict:
    results: dict = {"machine": {"cpus": os.cpu_count()}, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory(prefix="ragmesh-bench-") as data_dir:
        suite = BackgroundSuite(Path(data_dir), {KEY: "bench"})
        async with suite.serving(console, KEY) as client:
            results["startup_s"] = round(suite.startup_s, 2)
            rng = random.Random(7)
            probes = [_probe(i, rng) for i in range(args.documents)]
            results["ingest"] = await ingest(client, probes, args.concurrency)
            # The same units ingest embeds: each document's two sections.
            texts = [part for probe in probes for part in probe.body.split("\n\n## ")]
            results["embed_ceiling"] = await embed_ceiling(f"127.0.0.1:{suite.ports['embedder']}", texts)
            asked = rng.sample(probes, args.warmup + 2 * args.queries)
            warm, retrieval_set, generation_set = (
                asked[: args.warmup],
                asked[args.warmup : args.warmup + args.queries],
                asked[args.warmup + args.queries :],
            )
            # Warm-up: the first calls load caches and code paths that later calls reuse.
            for i, probe in enumerate(warm):
                await client.post("/v1/query", json={"question": probe.question, "generate": i % 2 == 0})
            floor, _ = await timed(client, "GET", "/healthz", args.queries, "HTTP floor (/healthz)")
            retrieval, retrieved = await timed(
                client,
                "POST",
                "/v1/query",
                args.queries,
                "query without generation",
                lambda i: {"question": retrieval_set[i].question, "generate": False},
            )
            full, answered = await timed(
                client,
                "POST",
                "/v1/query",
                args.queries,
                "query with generation (Gemma 3 270M)",
                lambda i: {"question": generation_set[i].question},
            )
            results["retrieval_quality"] = grounding(retrieval_set, retrieved)
            results["answer_quality"] = grounding(generation_set, answered)
            results["query"] = {
                "http_floor": _summary(floor),
                "without_generation": _summary(retrieval),
                "with_generation": _summary(full),
            }
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
    r, a = results["retrieval_quality"], results["answer_quality"]
    console.print(
        f"retrieval: top citation is the source document in {r['top_citation_is_the_source']:.0%} of "
        f"{r['questions']} questions\n"
        f"answers (Gemma 3 270M): state the fact {a['answer_states_the_fact']:.0%}, "
        f"supported by a cited passage {a['answer_supported_by_a_cited_passage']:.0%}, "
        f"top citation is the source {a['top_citation_is_the_source']:.0%}"
    )


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
