"""How far P1, P6 and P7 (bench/run.py) are from what any Python gateway can reach on this machine: the real gateway
and a bare one (bench/bare_gateway.py: plain ASGI, the shared admission, a cache lookup and the two gRPC calls, and
nothing else) measured in the same run, against the same baselines, on the same suite holding 1,000 documents.

One at a time, in turn (twenty calls of each at a time): the HTTP floor of each, the embedder and the retriever
called directly, /v1/search and the bare /search, answer-cache hits of each (the bare one returns the real gateway's
cached body). Then 16 in flight: the embedder alone, the bare search, /v1/search. Every search asks a question no
earlier call asked.

    python -m bench.floors [--documents 1000] [--queries 200] [--load 1500]
Results: printed as one table, and written to bench/results/floors-<UTC time>.json.
"""

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
from itertools import count
from pathlib import Path

import httpx
import redis.asyncio as redis
from rich.table import Table

from bench.bare_gateway import answer_key
from bench.figures import save
from bench.latency import console, in_flight, in_turn, summary
from bench.probes import probes
from bench.run import ADMIN, TENANT, UNLIMITED, Direct, ingest_probes, measure_arguments, stored_key
from ragmesh.suite import BackgroundSuite, free_port


async def _bare_gateway(suite: BackgroundSuite) -> tuple[subprocess.Popen, httpx.AsyncClient]:
    port = free_port()
    env = os.environ | {
        "BARE_REDIS_PORT": str(suite.ports["redis"]),
        "BARE_EMBEDDER_PORT": str(suite.ports["embedder"]),
        "BARE_RETRIEVER_PORT": str(suite.ports["retriever"]),
        "BARE_TENANT": TENANT,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.bare_gateway:app", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300)
    for _ in range(100):
        try:
            if (await client.get("/healthz")).status_code == 200:
                return server, client
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    server.terminate()
    raise RuntimeError("the bare gateway did not start")


async def main(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="ragmesh-floors-") as data:
        env = {"RAGMESH_GATEWAY_RATE_LIMITS": json.dumps({b: UNLIMITED for b in ("answer", "search", "ingest")})}
        suite = BackgroundSuite(Path(data), {ADMIN: TENANT}, env)
        async with suite.serving(console, ADMIN) as admin:
            key = await stored_key(admin)
            client = httpx.AsyncClient(base_url=suite.url, headers={"X-API-Key": key}, timeout=300)
            direct = Direct(suite.ports)
            cache = redis.Redis(port=suite.ports["redis"])
            server, bare = await _bare_gateway(suite)
            try:
                return await _measure(args, client, bare, direct, cache)
            finally:
                server.terminate()
                server.wait()
                for closing in (client.aclose(), bare.aclose(), direct.close(), cache.aclose()):
                    await closing


async def _measure(args, client: httpx.AsyncClient, bare: httpx.AsyncClient, direct: Direct, cache) -> dict:
    items = probes(args.documents)
    await ingest_probes(client, items)
    pool = [item.questions[which] for which in range(5) for item in items]
    random.Random(13).shuffle(pool)
    # Never the same text twice (the caches would answer it), however many calls the arguments ask for.
    fresh = (f"{question} ({again})" if again else question for again in count() for question in pool)
    # The answers the hits repeat: asked once through the gateway, the same body stored for the bare one.
    repeat = [next(fresh) for _ in range(max(1, args.queries // 4))]
    for question in repeat:
        reply = await client.post("/v1/query", json={"question": question, "generate": False})
        reply.raise_for_status()
        await cache.set(answer_key(question), reply.content)
    for _ in range(20):
        await client.post("/v1/search", json={"query": next(fresh)})
        await bare.post("/search", json={"query": next(fresh)})
        await direct.search(next(fresh))

    def asked(n: int) -> list[str]:
        return [next(fresh) for _ in range(n)]

    def hit(through: httpx.AsyncClient, path: str):
        return lambda q: through.post(path, json={"question": q, "generate": False})

    n = args.queries
    timed = await in_turn(
        "floors, direct, searches and cache hits of both gateways, in turn",
        {
            "floor": (lambda _: client.get("/healthz"), range(n)),
            "bare_floor": (lambda _: bare.get("/healthz"), range(n)),
            "direct": (direct.search, asked(n)),
            "search": (lambda q: client.post("/v1/search", json={"query": q}), asked(n)),
            "bare_search": (lambda q: bare.post("/search", json={"query": q}), asked(n)),
            "hit": (hit(client, "/v1/query"), repeat * 4),
            "bare_hit": (hit(bare, "/hit"), repeat * 4),
        },
    )
    out: dict = {"latency": {name: summary(samples) for name, samples in timed.items()}}
    out["embedder_16"] = await in_flight("embedder alone, 16 in flight", direct.embed, asked(args.load), 16)
    out["bare_search_16"] = await in_flight(
        "bare /search, 16 in flight", lambda q: bare.post("/search", json={"query": q}), asked(args.load), 16
    )
    out["search_16"] = await in_flight(
        "POST /v1/search, 16 in flight", lambda q: client.post("/v1/search", json={"query": q}), asked(args.load), 16
    )
    return out


def rows(r: dict) -> list[tuple[str, str, str, str]]:
    """(row, goal, the gateway's ratio, the bare gateway's ratio), each against the same baseline."""
    p50 = {name: figures["p50_ms"] for name, figures in r["latency"].items()}
    floor = p50["floor"]
    e16 = r["embedder_16"]["per_s"]
    return [
        (
            "P1 added to a search, x the HTTP floor",
            "<= 1x",
            f"{(p50['search'] - p50['direct']) / floor:.2f}x ({p50['search'] - p50['direct']:.2f} ms)",
            f"{(p50['bare_search'] - p50['direct']) / floor:.2f}x ({p50['bare_search'] - p50['direct']:.2f} ms)",
        ),
        (
            "P6 answer-cache hit, x the HTTP floor",
            "<= 2x",
            f"{p50['hit'] / floor:.2f}x ({p50['hit']:.2f} ms)",
            f"{p50['bare_hit'] / floor:.2f}x ({p50['bare_hit']:.2f} ms)",
        ),
        (
            "P7 searches at 16 in flight, x the embedder's",
            ">= 0.8x",
            f"{r['search_16']['per_s'] / e16:.2f}x ({r['search_16']['per_s']}/s)",
            f"{r['bare_search_16']['per_s'] / e16:.2f}x ({r['bare_search_16']['per_s']}/s)",
        ),
    ]


def report(r: dict) -> None:
    p50 = {name: figures["p50_ms"] for name, figures in r["latency"].items()}
    table = Table(title="ragmesh against a bare Python gateway (medians; baselines from the same run)")
    for column in ("row", "goal", "ragmesh gateway", "bare gateway"):
        table.add_column(column)
    for row in rows(r):
        table.add_row(*row)
    console.print(table)
    console.print(
        f"HTTP floor {p50['floor']:.2f} ms (bare {p50['bare_floor']:.2f} ms); direct calls {p50['direct']:.2f} ms; "
        f"embedder alone at 16 in flight {r['embedder_16']['per_s']}/s"
    )


if __name__ == "__main__":
    outcome = asyncio.run(main(measure_arguments(__doc__).parse_args()))
    outcome["rows"] = [dict(zip(("row", "goal", "gateway", "bare"), row, strict=True)) for row in rows(outcome)]
    report(outcome)
    console.print(f"written to {save('floors', outcome)}")
