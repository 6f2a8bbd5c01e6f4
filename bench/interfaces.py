"""The interfaces users reach the suite through (issue 17), each against the native call in the same run, on the
real suite (`ragmesh up` on free loopback ports) holding short documents:

- batch: POST /v1/batch/search and /v1/batch/query (retrieval only) against the same items one by one;
- OpenAI: the official `openai` client's chat completion (profile ragmesh-retrieval, and a streamed answer with the
  local model) against POST /v1/query doing the same.

Every timed call asks a question no earlier call asked (caches miss).

    python -m bench.interfaces [--documents 300] [--items 256] [--batch 32] [--streams 6]
Results: printed as one table, and written to bench/results/interfaces-<UTC time>.json.
"""

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
import openai
from rich.table import Table

from bench import streaming
from bench.figures import save
from bench.latency import console, one_at_a_time, summary
from bench.probes import probes
from bench.run import ADMIN, TENANT, UNLIMITED, ingest_probes, stored_key
from ragmesh.suite import BackgroundSuite


async def _batched(client: httpx.AsyncClient, path: str, items: list[dict], size: int) -> float:
    """Items a second, sent `size` at a time."""
    started = time.perf_counter()
    for at in range(0, len(items), size):
        reply = await client.post(path, json={"requests": items[at : at + size]})
        reply.raise_for_status()
        failed = reply.json()["batch"]["failed"]
        if failed:
            raise RuntimeError(f"{failed} batch items failed")
    return len(items) / (time.perf_counter() - started)


async def _one_by_one(client: httpx.AsyncClient, path: str, items: list[dict]) -> float:
    started = time.perf_counter()
    await one_at_a_time(f"{path}, one by one", lambda item: _post(client, path, item), items)
    return len(items) / (time.perf_counter() - started)


async def _post(client: httpx.AsyncClient, path: str, body: dict) -> dict:
    reply = await client.post(path, json=body)
    reply.raise_for_status()
    return reply.json()


async def _openai(
    client: httpx.AsyncClient, sdk: openai.AsyncOpenAI, llm_url: str, questions: list[str], streams: int
) -> dict:
    half = len(questions) // 2
    native = await one_at_a_time(
        "POST /v1/query, retrieval only",
        lambda q: _post(client, "/v1/query", {"question": q, "generate": False}),
        questions[:half],
    )

    async def completion(q: str) -> None:
        await sdk.chat.completions.create(model="ragmesh-retrieval", messages=[{"role": "user", "content": q}])

    compatible = await one_at_a_time("openai client, ragmesh-retrieval", completion, questions[half:])
    streamed: dict[str, list[float]] = {"native": [], "openai": []}

    async def native_stream(q: str) -> None:
        async with client.stream("POST", "/v1/query", json={"question": q, "stream": True, "max_tokens": 32}) as r:
            lines = [line async for line in r.aiter_lines()]
        if "event: done" not in lines:
            raise RuntimeError(f"the stream of {q!r} ended without its done event")

    async def openai_stream(q: str) -> None:
        stream = await sdk.chat.completions.create(
            model="ragmesh", messages=[{"role": "user", "content": q}], stream=True, max_tokens=32
        )
        finished = [chunk.choices[0].finish_reason async for chunk in stream if chunk.choices]
        if "stop" not in finished:
            raise RuntimeError(f"the OpenAI stream of {q!r} ended without a finish reason")

    async with httpx.AsyncClient(base_url=llm_url, timeout=120) as llm:
        for n, q in enumerate(questions[:streams]):
            # The same question both ways, each starting with llama.cpp's prompt cache holding something else, in
            # turns first (the local model answers the same prompt the same way: same length both ways).
            ways = [("native", native_stream), ("openai", openai_stream)]
            for name, way in ways if n % 2 else ways[::-1]:
                await streaming.evict(llm)
                started = time.perf_counter()
                await way(q)
                streamed[name].append((time.perf_counter() - started) * 1000)
    return {
        "query_retrieval_only": summary(native),
        "openai_retrieval_only": summary(compatible),
        "stream_native": summary(streamed["native"]),
        "stream_openai": summary(streamed["openai"]),
    }


async def main(args: argparse.Namespace) -> dict:
    env = {"RAGMESH_GATEWAY_RATE_LIMITS": json.dumps({b: UNLIMITED for b in ("answer", "search", "ingest")})}
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="ragmesh-bench-") as data_dir:
        suite = BackgroundSuite(Path(data_dir), {ADMIN: TENANT}, env)
        async with suite.serving(console, ADMIN) as admin:
            key = await stored_key(admin)
            async with httpx.AsyncClient(base_url=suite.url, headers={"X-API-Key": key}, timeout=300) as client:
                items = probes(args.documents)
                await ingest_probes(client, items)
                pool = iter([item.questions[w] for w in range(5) for item in items])
                take = lambda n: [next(pool) for _ in range(n)]  # noqa: E731
                for q in take(10):  # warm-up
                    await _post(client, "/v1/search", {"query": q})
                n, size = args.items, args.batch
                results["search_one_by_one_per_s"] = await _one_by_one(
                    client, "/v1/search", [{"query": q} for q in take(n)]
                )
                results["search_batched_per_s"] = await _batched(
                    client, "/v1/batch/search", [{"query": q} for q in take(n)], size
                )
                retrieval = [{"question": q, "generate": False} for q in take(2 * n)]
                results["query_one_by_one_per_s"] = await _one_by_one(client, "/v1/query", retrieval[:n])
                results["query_batched_per_s"] = await _batched(client, "/v1/batch/query", retrieval[n:], size)
                sdk = openai.AsyncOpenAI(base_url=f"{suite.url}/v1", api_key=key, max_retries=0)
                results["openai"] = await _openai(
                    client, sdk, f"http://127.0.0.1:{suite.ports['llm']}", take(args.queries), args.streams
                )
    results["batch_size"] = args.batch
    return results


def report(r: dict) -> None:
    table = Table(title="ragmesh interfaces (same-run baselines)")
    for column in ("figure", "value", "baseline", "ratio"):
        table.add_column(column)
    for name in ("search", "query"):
        batched, single = r[f"{name}_batched_per_s"], r[f"{name}_one_by_one_per_s"]
        table.add_row(
            f"/v1/batch/{name} ({r['batch_size']} a batch)", f"{batched:.1f}/s", f"one by one {single:.1f}/s",
            f"{batched / single:.2f}x",
        )  # fmt: skip
    o = r["openai"]
    for label, mine, theirs in (
        ("openai client, retrieval only (p50)", "openai_retrieval_only", "query_retrieval_only"),
        ("openai client, streamed answer (p50)", "stream_openai", "stream_native"),
    ):
        a, b = o[mine]["p50_ms"], o[theirs]["p50_ms"]
        table.add_row(label, f"{a:.1f} ms", f"/v1/query {b:.1f} ms", f"{a / b:.2f}x")
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=300)
    parser.add_argument("--items", type=int, default=256, help="Items per batched and one-by-one measure.")
    parser.add_argument("--batch", type=int, default=32, help="Items a batch.")
    parser.add_argument("--queries", type=int, default=100, help="Questions for the OpenAI comparison.")
    parser.add_argument("--streams", type=int, default=6, help="Streamed answers each way.")
    outcome = asyncio.run(main(parser.parse_args()))
    report(outcome)
    console.print(f"written to {save('interfaces', outcome)}")
