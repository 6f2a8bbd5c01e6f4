"""Speed against the machine's limits (issue 15's P1-P8), each figure a ratio to a baseline measured in the same
run, on the real suite (`ragmesh up` on free loopback ports) holding 1,000 short documents:

- P1 what the gateway adds to /v1/search over calling the embedder and the retriever directly, against the HTTP
  floor (GET /healthz through the same gateway); the calls carry a stored key with rate limits, as users' do;
- P2 /v1/query without generation against /v1/search; P6 an answer-cache hit against the HTTP floor;
- P3, P4 the embedder's runtime (RAGMESH_EMBEDDER_RUNTIME) against sentence-transformers on PyTorch, in process;
- P5 streaming through the gateway against raw llama.cpp (bench/streaming.py);
- P7 /v1/search with 16 in flight against the embedder's own query throughput at 16 in flight;
- P8 ingest of SciFact abstracts through the API against the embedder alone on the texts ingest embeds.

Every timed call asks a question no earlier call asked (caches miss), except P6's, which repeat on purpose. The
one-at-a-time figures (floor, direct, search, query, cache hits) are taken in turn, twenty calls of each at a time,
so that the machine's drift (two cores shared with every service) falls on a figure and its baseline alike.

    python -m bench.run [--documents 1000] [--queries 200] [--scifact 500]
Results: printed as one table, and written to bench/results/speed-<UTC time>.json.
"""

import argparse
import asyncio
import json
import os
import random
import tempfile
from pathlib import Path

import grpc
import httpx
import redis.asyncio as redis
from rich.table import Table

from bench import embedder_onnx, streaming
from bench.figures import save
from bench.latency import console, in_flight, in_turn, summary
from bench.probes import grounding, probes
from bench.scifact_ingest import ingest_and_ceiling
from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from ragmesh.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from ragmesh.suite import BackgroundSuite
from services.embedder.config import EmbedderSettings

ADMIN = "bench-admin"
TENANT = "bench"
UNLIMITED = ["1000000/minute"]


async def stored_key(client: httpx.AsyncClient) -> str:
    """A key as users hold them (hashed in SQL, per-caller rate limits checked in Redis), with room for the load."""
    reply = await client.post(
        "/v1/admin/keys",
        json={
            "name": "bench",
            "scopes": ["query", "ingest"],
            "rate_limits": {"answer": UNLIMITED, "search": UNLIMITED, "ingest": UNLIMITED},
        },
    )
    reply.raise_for_status()
    return reply.json()["key"]


async def ingest_probes(client: httpx.AsyncClient, items: list) -> None:
    async def one(item) -> None:
        reply = await client.post("/v1/documents", files={"file": (item.filename, item.body.encode(), "text/markdown")})
        reply.raise_for_status()
        item.document_id = reply.json()["document_id"]

    done = await in_flight(f"ingesting {len(items)} documents", one, items, 4)
    if done["errors"]:
        raise RuntimeError(f"{done['errors']} documents failed to ingest")


class Direct:
    """The embedder and the retriever called as the gateway calls them, without the gateway."""

    def __init__(self, ports: dict[str, int]) -> None:
        self._channels = [grpc.aio.insecure_channel(f"127.0.0.1:{ports[name]}") for name in ("embedder", "retriever")]
        self.embedder = embedder_pb2_grpc.EmbedderServiceStub(self._channels[0])
        self.retriever = retriever_pb2_grpc.RetrieverServiceStub(self._channels[1])

    async def embed(self, text: str) -> list[float]:
        reply = await self.embedder.Embed(embedder_pb2.EmbedRequest(texts=[text], kind=embedder_pb2.INPUT_KIND_QUERY))
        return list(reply.vectors[0].values)

    async def search(self, text: str) -> None:
        vector = await self.embed(text)
        await self.retriever.Search(
            retriever_pb2.SearchRequest(
                tenant=TENANT,
                text=text,
                dense=vector,
                top_k=10,
                mode=retriever_pb2.SEARCH_MODE_HYBRID,
                viewer=retriever_pb2.Viewer(),
            )
        )

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


async def main(args: argparse.Namespace) -> dict:
    results: dict = {"machine": {"cpus": os.cpu_count()}, "runtime": EmbedderSettings().runtime}
    graphs = EmbedderSettings().onnx_dir
    results["embedder_torch"], _ = await embedder_onnx.measure("torch", graphs)
    results["embedder_runtime"], _ = await embedder_onnx.measure(results["runtime"], graphs)
    env = {"RAGMESH_GATEWAY_RATE_LIMITS": json.dumps({b: UNLIMITED for b in ("answer", "search", "ingest")})}
    with tempfile.TemporaryDirectory(prefix="ragmesh-bench-") as data_dir:
        suite = BackgroundSuite(Path(data_dir), {ADMIN: TENANT}, env)
        async with suite.serving(console, ADMIN) as admin:
            results["startup_s"] = round(suite.startup_s, 2)
            key = await stored_key(admin)
            client = httpx.AsyncClient(base_url=suite.url, headers={"X-API-Key": key}, timeout=300)
            direct = Direct(suite.ports)
            cache = redis.Redis(port=suite.ports["redis"])
            try:
                results.update(await _measure(args, suite, client, direct, cache))
            finally:
                await client.aclose()
                await direct.close()
                await cache.aclose()
    return results


async def _measure(args, suite: BackgroundSuite, client, direct: Direct, cache) -> dict:
    out: dict = {}
    if args.scifact:
        out["ingest"] = await ingest_and_ceiling(client, direct.embedder, cache, args.scifact)
    items = probes(args.documents)
    await ingest_probes(client, items)
    # Every question once, in a fixed shuffled order: each phase takes its own slice.
    pool = [(item, which) for which in range(5) for item in items]
    random.Random(11).shuffle(pool)
    take = iter(pool)

    def questions(n: int) -> list[tuple]:
        return [next(take) for _ in range(n)]

    n = args.queries
    for warm in questions(20):
        await client.post("/v1/query", json={"question": warm[0].questions[warm[1]], "generate": False})
        await direct.search(warm[0].questions[warm[1]] + " ")

    async def search(q) -> None:
        (await client.post("/v1/search", json={"query": q[0].questions[q[1]]})).raise_for_status()

    asked, bodies = questions(n), []

    async def answer(q) -> dict:
        reply = await client.post("/v1/query", json={"question": q[0].questions[q[1]], "generate": False})
        reply.raise_for_status()
        return reply.json()

    async def query(q) -> None:
        bodies.append(await answer(q))

    # The questions the cache hits repeat are answered once first (untimed).
    repeat = questions(max(1, n // 4))
    for q in repeat:
        await answer(q)
    timed = await in_turn(
        "floor, direct, /v1/search, /v1/query and cache hits, in turn",
        {
            "floor": (lambda _: client.get("/healthz"), range(n)),
            "direct": (lambda q: direct.search(q[0].questions[q[1]]), questions(n)),
            "search": (search, questions(n)),
            "query": (query, asked),
            "hits": (answer, repeat * 4),
        },
    )
    floor, plain, searched, answered, hits = (timed[k] for k in ("floor", "direct", "search", "query", "hits"))
    out["retrieval_quality"] = grounding(asked, bodies)
    out["latency"] = {
        "http_floor": summary(floor),
        "direct": summary(plain),
        "search": summary(searched),
        "query_retrieval_only": summary(answered),
        "answer_cache_hit": summary(hits),
    }
    texts = [q[0].questions[q[1]] for q in questions(args.load)]
    out["embedder_16"] = await in_flight("embedder alone, 16 in flight", direct.embed, texts, 16)
    load = questions(args.load)
    out["search_16"] = await in_flight("POST /v1/search, 16 in flight", search, load, 16)
    stream = [q[0].questions[q[1]] for q in questions(args.streams)]
    out["streaming"] = await streaming.measure(client, f"http://127.0.0.1:{suite.ports['llm']}", stream)
    return out


def goals(r: dict) -> list[tuple[str, str, str, str, str, bool]]:
    """(row, figure, baseline, ratio, goal, met) for each of P1-P8."""
    lat = r["latency"]
    floor, direct, search = lat["http_floor"]["p50_ms"], lat["direct"]["p50_ms"], lat["search"]["p50_ms"]
    query, hit = lat["query_retrieval_only"], lat["answer_cache_hit"]["p50_ms"]
    added = search - direct
    torch, runtime = r["embedder_torch"], r["embedder_runtime"]
    batch = runtime["batch_texts_per_s"] / torch["batch_texts_per_s"]
    one = torch["query_ms_p50"] / runtime["query_ms_p50"]
    s, e16, q16 = r["streaming"], r["embedder_16"], r["search_16"]
    rows = [
        (
            "P1 gateway adds to /v1/search",
            f"{added:.2f} ms",
            f"floor {floor:.2f} ms",
            f"{added / floor:.2f}x",
            "<= 1x floor",
            added <= floor,
        ),
        (
            "P2 /v1/query, no generation",
            f"{query['p50_ms']:.2f} ms (p95 {query['p95_ms']:.1f})",
            f"search {search:.2f} ms",
            f"{query['p50_ms'] / search:.2f}x",
            "<= 1.3x",
            query["p50_ms"] <= 1.3 * search,
        ),
        (
            f"P3 embedder batch ({r['runtime']})",
            f"{runtime['batch_texts_per_s']} texts/s",
            f"torch {torch['batch_texts_per_s']}",
            f"{batch:.2f}x",
            ">= 2.7x",
            batch >= 2.7,
        ),
        (
            f"P4 embedder one query ({r['runtime']})",
            f"{runtime['query_ms_p50']} ms",
            f"torch {torch['query_ms_p50']} ms",
            f"{one:.2f}x faster",
            ">= 5x",
            one >= 5,
        ),
        (
            "P5 streaming tokens/s",
            f"{s['gateway_tokens_per_s']}/s",
            f"raw {s['raw_tokens_per_s']}/s",
            f"{s['ratio']:.2f}x",
            ">= 0.9x",
            s["ratio"] >= 0.9,
        ),
        (
            "P5 first-token overhead (in each request: wait minus the model's own time to its first text)",
            f"{s['first_token_overhead_p50_ms']} ms p50",
            f"vs raw llama.cpp on a rebuilt prompt: {s['first_token_vs_raw_prompt_p50_ms']} ms p50",
            f"p95 {s['first_token_overhead_p95_ms']} ms",
            "<= 50 ms p95",
            s["first_token_overhead_p95_ms"] <= 50,
        ),
        (
            "P6 answer-cache hit",
            f"{hit:.2f} ms",
            f"floor {floor:.2f} ms",
            f"{hit / floor:.2f}x",
            "<= 2x floor",
            hit <= 2 * floor,
        ),
        (
            "P7 /v1/search, 16 in flight",
            f"{q16['per_s']}/s (p95 {q16['p95_ms']:.0f} ms)",
            f"embedder {e16['per_s']}/s",
            f"{q16['per_s'] / e16['per_s']:.2f}x",
            ">= 0.8x",
            q16["per_s"] >= 0.8 * e16["per_s"],
        ),
    ]
    if "x_ceiling" in r.get("ingest", {}):
        i = r["ingest"]
        rows.append(
            (
                "P8 ingest SciFact via the API",
                f"{i['texts_per_s']} texts/s",
                f"embedder {i['ceiling_texts_per_s']}/s",
                f"{i['x_ceiling']:.2f}x",
                ">= 0.8x",
                i["x_ceiling"] >= 0.8,
            )
        )
    return rows


def report(results: dict) -> None:
    table = Table(title="ragmesh speed (medians; every ratio against a baseline from the same run)")
    for column in ("goal row", "figure", "baseline", "ratio", "goal", "met"):
        table.add_column(column)
    for row in goals(results):
        table.add_row(*row[:5], "yes" if row[5] else "no")
    console.print(table)
    q = results["retrieval_quality"]
    console.print(
        f"retrieval-only answers: top citation is the source in {q['top_citation_is_the_source']:.0%} of "
        f"{q['questions']} questions; suite start {results['startup_s']} s"
    )


def measure_arguments(description: str | None) -> argparse.ArgumentParser:
    """The flags this bench and bench/floors.py share: the documents the suite holds, calls per measure."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200, help="Calls per one-at-a-time measure.")
    parser.add_argument("--load", type=int, default=1500, help="Calls per 16-in-flight measure.")
    return parser


if __name__ == "__main__":
    parser = measure_arguments(__doc__)
    parser.add_argument("--streams", type=int, default=12, help="Streamed answers (P5).")
    parser.add_argument("--scifact", type=int, default=500, help="SciFact abstracts ingested for P8 (0: skip).")
    outcome = asyncio.run(main(parser.parse_args()))
    outcome["goals"] = [
        dict(zip(("row", "figure", "baseline", "ratio", "goal", "met"), g, strict=True)) for g in goals(outcome)
    ]
    report(outcome)
    console.print(f"written to {save('speed', outcome)}")
