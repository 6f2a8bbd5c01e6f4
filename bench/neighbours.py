"""Does a tenant with the largest metadata schema slow another tenant down? Through the real suite (`ragmesh up`):
tenant `quiet` searches one request at a time, while tenant `busy` keeps `--concurrency` self-query searches in
flight, and the same is measured with `busy` declaring no schema at all (the baseline, same run) and with nobody
else busy (the floor). Also the usage ledger's and budgets' cost on a request: `quiet`'s searches write a ledger
row each.

    python -m bench.neighbours [--queries 100] [--concurrency 4]
Results: printed, and written to bench/results/neighbours-<UTC time>.json.
"""

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from bench.self_query import WORDS
from ragmesh.suite import BackgroundSuite

console = Console()
KEYS = {"key-quiet": "quiet", "key-busy": "busy", "key-plain": "plain"}
FIELDS, VALUES = 32, 1000


def _schema() -> dict:
    rng = random.Random(3)
    fields = [
        {
            "name": f"field_{f}",
            "type": "keywords" if f % 2 else "keyword",
            "values": [f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {i}" for i in range(VALUES)],
        }
        for f in range(FIELDS - 1)
    ]
    return {"fields": [*fields, {"name": "year", "type": "year"}]}


def _busy_questions(schema: dict) -> list[str]:
    rng = random.Random(5)
    keyword = [f for f in schema["fields"] if f["type"].startswith("keyword")]
    return [
        f"papers from {rng.randint(1990, 2024)} about {rng.choice(rng.choice(keyword)['values'])} and gamma"
        for _ in range(200)
    ]


async def _upload(client: httpx.AsyncClient, key: str, tenant: str, count: int) -> None:
    for i in range(count):
        body = f"# {tenant} note {i}\n\nThe {WORDS[i % len(WORDS)]} ferry of {tenant} leaves at {6 + i % 5}:15.\n"
        reply = await client.post(
            "/v1/documents",
            headers={"X-API-Key": key},
            files={"file": (f"{tenant}-{i}.md", body.encode(), "text/markdown")},
        )
        reply.raise_for_status()


async def _quiet_searches(client: httpx.AsyncClient, queries: int) -> list[float]:
    samples = []
    for i in range(queries):
        started = time.perf_counter()
        reply = await client.post(
            "/v1/search",
            headers={"X-API-Key": "key-quiet"},
            json={"query": f"when does the {WORDS[i % len(WORDS)]} ferry leave?", "top_k": 5},
        )
        reply.raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def _hammer(client: httpx.AsyncClient, key: str, questions: list[str], stop: asyncio.Event) -> int:
    done = 0
    while not stop.is_set():
        reply = await client.post(
            "/v1/search", headers={"X-API-Key": key}, json={"query": questions[done % len(questions)], "top_k": 5}
        )
        reply.raise_for_status()
        done += 1
    return done


async def _while_busy(
    client: httpx.AsyncClient, key: str | None, questions: list[str], queries: int, concurrency: int
) -> dict[str, float]:
    stop = asyncio.Event()
    workers = [asyncio.create_task(_hammer(client, key, questions, stop)) for _ in range(concurrency if key else 0)]
    started = time.perf_counter()
    samples = await _quiet_searches(client, queries)
    elapsed = time.perf_counter() - started
    stop.set()
    busy = sum(await asyncio.gather(*workers))
    ordered = sorted(samples)
    return {
        "quiet_p50_ms": round(statistics.median(ordered), 2),
        "quiet_p95_ms": round(ordered[round(0.95 * (len(ordered) - 1))], 2),
        "busy_requests_per_s": round(busy / elapsed, 1),
    }


async def main(queries: int, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ragmesh-bench-") as data_dir:
        env = {"RAGMESH_GATEWAY_SELF_QUERY_LLM": "false", "RAGMESH_GATEWAY_TENANT_MAX_IN_FLIGHT": "0"}
        suite = BackgroundSuite(Path(data_dir), KEYS, env)
        async with suite.serving(console, "key-quiet") as client:
            for key, tenant in KEYS.items():
                await _upload(client, key, tenant, 20)
            schema = _schema()
            declared = await client.put("/v1/metadata-schema", headers={"X-API-Key": "key-busy"}, json=schema)
            declared.raise_for_status()
            questions = _busy_questions(schema)
            # Warm both paths once (the first question of a schema version builds the parser's indexes).
            await _quiet_searches(client, 5)
            await client.post("/v1/search", headers={"X-API-Key": "key-busy"}, json={"query": questions[0]})
            results = {
                "alone": await _while_busy(client, None, questions, queries, concurrency),
                "beside_no_schema": await _while_busy(client, "key-plain", questions, queries, concurrency),
                f"beside_{FIELDS}x{VALUES}_schema": await _while_busy(
                    client, "key-busy", questions, queries, concurrency
                ),
            }
            usage = (await client.get("/v1/usage")).json()
    baseline = results["beside_no_schema"]["quiet_p50_ms"]
    loaded = results[f"beside_{FIELDS}x{VALUES}_schema"]["quiet_p50_ms"]
    return {
        "queries": queries,
        "concurrency": concurrency,
        **results,
        "ratio_p50_large_schema_vs_no_schema": round(loaded / baseline, 2),
        "quiet_searches_in_the_ledger": next(
            (row["requests"] for row in usage["by_route"] if row["route"] == "search"), 0
        ),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    figures = asyncio.run(main(args.queries, args.concurrency))
    table = Table(title="tenant quiet's /v1/search while tenant busy searches")
    for column in ("beside", "quiet p50 ms", "quiet p95 ms", "busy requests/s"):
        table.add_column(column)
    for name in ("alone", "beside_no_schema", f"beside_{FIELDS}x{VALUES}_schema"):
        row = figures[name]
        table.add_row(name, *(str(row[k]) for k in ("quiet_p50_ms", "quiet_p95_ms", "busy_requests_per_s")))
    console.print(table)
    console.print(f"p50 ratio, largest schema vs none: {figures['ratio_p50_large_schema_vs_no_schema']}x")
    out = Path(__file__).parent / "results" / f"neighbours-{datetime.now(UTC):%Y-%m-%dT%H%M%S%z}.json"
    out.write_text(json.dumps(figures, indent=2))
    console.print(f"written to {out}")
