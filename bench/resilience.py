"""Caches and faults through the real suite (`ragmesh up` on free loopback ports; the model provider a local LLMock
server, so that the model's own speed does not hide what the caches and the fault handling do, and so that it can
be made to fail).

1. Caches: a replayed workload of `--questions` questions over `--documents` documents: 30% repeat an earlier
   question word for word, 20% paraphrase one, the rest are new. Reported: hits per layer, model calls saved
   against one call per question (no caches), p50/p95 of answer-cache hits, semantic hits and misses.
2. Faults, each while a steady stream of questions runs: Redis paused (SIGSTOP) then resumed; the model provider
   failing 30% of its calls (LLMock's provider-shaped 503s); the generator killed (the supervisor restarts it).
   Reported per fault: success rate (HTTP 200) and degraded answers during it, p99 during it against p99 before
   it, when the generator's breaker opened and closed again, and how long after the fault the suite answered
   normally again.

    python -m bench.resilience [--documents 100] [--questions 500]
Results: printed, and written to bench/results/resilience-<UTC time>.json.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from llmock.chaos import ChaosSettings
from llmock.testing import LLMockServer
from rich.console import Console
from rich.table import Table

from bench.figures import save
from bench.probes import probe
from ragmesh.suite import BackgroundSuite

KEY = "bench-resilience"
console = Console()
# Rewordings the paraphrase share uses (each question of bench/run's probes starts with one of these).
REWORDINGS = [
    ("When was ", "In what year was "),
    ("How many people does ", "How many staff does "),
    ("How long is ", "What length is "),
    ("When does ", "At what time does "),
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2) if ordered else 0.0


def workload(questions: list[str], count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, question): 30% repeats, 20% paraphrases of earlier questions, 50% new."""
    asked: list[str] = []
    fresh = iter(questions)
    plan = []
    for _ in range(count):
        roll = rng.random()
        if asked and roll < 0.3:
            plan.append(("repeat", rng.choice(asked)))
        elif asked and roll < 0.5:
            original = rng.choice(asked)
            reworded = next((original.replace(a, b, 1) for a, b in REWORDINGS if original.startswith(a)), original)
            plan.append(("paraphrase", reworded))
        else:
            question = next(fresh)
            asked.append(question)
            plan.append(("new", question))
    return plan


async def _metric(client: httpx.AsyncClient, name: str, labels: str) -> float:
    text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name) and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def caches(client: httpx.AsyncClient, plan: list[tuple[str, str]]) -> dict:
    before = await _metric(client, "cache_hits_total", 'layer="retrieval"')
    by_outcome: dict[str, list[float]] = {"answer cache": [], "semantic cache": [], "answered": []}
    model_calls = 0
    for _, question in plan:
        started = time.perf_counter()
        reply = await client.post("/v1/query", json={"question": question})
        elapsed = (time.perf_counter() - started) * 1000
        reply.raise_for_status()
        body = reply.json()
        model_calls += body["usage"]["model_calls"]
        cached = body["cached"]
        by_outcome["answer cache" if cached is True else "semantic cache" if cached else "answered"].append(elapsed)
    retrieval_hits = await _metric(client, "cache_hits_total", 'layer="retrieval"')
    kinds = {kind: sum(1 for k, _ in plan if k == kind) for kind in ("new", "repeat", "paraphrase")}
    return {
        "questions": len(plan),
        "kinds": kinds,
        "answer_cache_hits": len(by_outcome["answer cache"]),
        "semantic_cache_hits": len(by_outcome["semantic cache"]),
        "retrieval_cache_hits": int(retrieval_hits - before),
        "model_calls": model_calls,
        "model_calls_saved": round(1 - model_calls / len(plan), 3),
        "latency_ms": {
            outcome: {"p50": _percentile(v, 0.5), "p95": _percentile(v, 0.95), "n": len(v)}
            for outcome, v in by_outcome.items()
        },
    }


async def _steady(client: httpx.AsyncClient, path: str, questions: list[str], stop: asyncio.Event, log: list) -> None:
    """One request after another, each recorded as (start time, latency ms, status)."""
    i = 0
    while not stop.is_set():
        started = time.perf_counter()
        text = questions[i % len(questions)]
        # Each request unlike any earlier one (its options differ), so that no cache hides the fault.
        body = (
            {"question": text, "context_tokens": 100 + i}
            if path == "/v1/query"
            else {"query": text, "candidates": 10 + i}
        )
        degraded = False
        try:
            reply = await client.post(path, json=body)
            status = reply.status_code
            degraded = status == 200 and path == "/v1/query" and reply.json()["degraded"]
        except httpx.HTTPError:
            status = 0
        log.append((started, (time.perf_counter() - started) * 1000, status, degraded))
        i += 1


async def _breaker(client: httpx.AsyncClient, stop: asyncio.Event, states: list) -> None:
    """The generator's breaker as the gateway reports it, every 0.25 s, as (time, state) changes."""
    while not stop.is_set():
        try:
            state = (await client.get("/v1/admin/status")).json()["breakers"]["generator"]
        except (httpx.HTTPError, KeyError, ValueError):
            state = "unknown"
        if not states or states[-1][1] != state:
            states.append((time.perf_counter(), state))
        await asyncio.sleep(0.25)


async def fault(client: httpx.AsyncClient, path: str, questions: list[str], name: str, begin, end, hold: float) -> dict:
    """Requests to `path` before (5 s), during (`hold` s) and after the fault, until they are normal again."""
    stop, log, states = asyncio.Event(), [], []
    runner = asyncio.create_task(_steady(client, path, questions, stop, log))
    watcher = asyncio.create_task(_breaker(client, stop, states))
    await asyncio.sleep(5)
    began = time.perf_counter()
    begin()
    await asyncio.sleep(hold)
    end()
    ended = time.perf_counter()
    recovered = None
    while time.perf_counter() - ended < 90:
        await asyncio.sleep(0.5)
        normal = [entry for entry in log if entry[0] > ended and entry[2] == 200 and not entry[3]]
        if len(normal) >= 5 and all(entry[2] == 200 and not entry[3] for entry in log[-5:]):
            recovered = round(normal[0][0] - ended, 2)
            break
    stop.set()
    await asyncio.gather(runner, watcher)
    before = [ms for at, ms, _, _ in log if at < began]
    during = [(ms, status, degraded) for at, ms, status, degraded in log if began <= at < ended]
    opened = next((at for at, state in states if at >= began and state == "open"), None)
    closed = next((at for at, state in states if opened and at > opened and state == "closed"), None)
    return {
        "fault": name,
        "route": path,
        "requests_during": len(during),
        "success_rate_during": round(sum(1 for _, s, _ in during if s == 200) / max(1, len(during)), 3),
        "degraded_during": round(sum(1 for _, _, d in during if d) / max(1, len(during)), 3),
        "p99_before_ms": _percentile(before, 0.99),
        "p99_during_ms": _percentile([ms for ms, _, _ in during], 0.99),
        "breaker_opened_after_s": round(opened - began, 2) if opened else None,
        "breaker_closed_after_s": round(closed - began, 2) if closed else None,
        "answering_normally_again_after_s": recovered,
    }


async def main(documents: int, questions: int) -> dict:
    results: dict = {"at": datetime.now(UTC).isoformat(timespec="seconds")}
    chaos = ChaosSettings()
    with tempfile.TemporaryDirectory(prefix="ragmesh-bench-") as data_dir, LLMockServer(chaos=chaos) as provider:
        env = {
            "RAGMESH_GENERATOR_MODEL": "openai/bench-model",
            "RAGMESH_GENERATOR_API_BASE": provider.base_url("openai"),
            "RAGMESH_GENERATOR_API_KEY": "bench",
            "RAGMESH_GATEWAY_RATE_LIMITS": "{}",
        }
        suite = BackgroundSuite(Path(data_dir), {KEY: "bench"}, env)
        async with suite.serving(console, KEY) as client:
            rng = random.Random(11)
            probes = [probe(i, rng) for i in range(documents)]
            for item in probes:
                reply = await client.post(
                    "/v1/documents", files={"file": (item.filename, item.body.encode(), "text/markdown")}
                )
                reply.raise_for_status()
            plan = workload([p.question for p in probes] * 10, questions, rng)
            with console.status("replaying the workload…"):
                results["caches"] = await caches(client, plan)
            fresh = [f"{p.question} (steady {i})" for i, p in enumerate(probes)]

            def signal_child(name: str, sent: signal.Signals) -> None:
                os.kill(json.loads((Path(data_dir) / "logs" / "children.json").read_text())[name], sent)

            faults = []
            for path in ("/v1/search", "/v1/query"):
                with console.status(f"Redis paused for 10 s under {path}…"):
                    faults.append(
                        await fault(
                            client,
                            path,
                            fresh,
                            "Redis paused (SIGSTOP) 10 s",
                            lambda: signal_child("redis", signal.SIGSTOP),
                            lambda: signal_child("redis", signal.SIGCONT),
                            10,
                        )
                    )
            with console.status("the model provider failing 30% of its calls…"):
                faults.append(
                    await fault(
                        client,
                        "/v1/query",
                        fresh,
                        "model provider fails 30% of calls",
                        lambda: setattr(chaos, "error_rate_503", 0.3),
                        lambda: setattr(chaos, "error_rate_503", 0.0),
                        20,
                    )
                )
            with console.status("generator killed…"):
                faults.append(
                    await fault(
                        client,
                        "/v1/query",
                        fresh,
                        "generator killed (the supervisor restarts it)",
                        lambda: signal_child("generator", signal.SIGKILL),
                        lambda: None,
                        3,
                    )
                )
            results["faults"] = faults
    return results


def report(results: dict) -> None:
    c = results["caches"]
    table = Table(title=f"caches: {c['questions']} questions ({c['kinds']})")
    for column in ("outcome", "count", "p50 ms", "p95 ms"):
        table.add_column(column)
    for outcome, figures in c["latency_ms"].items():
        table.add_row(outcome, str(figures["n"]), str(figures["p50"]), str(figures["p95"]))
    console.print(table)
    console.print(
        f"retrieval-cache hits {c['retrieval_cache_hits']}; model calls {c['model_calls']} "
        f"({c['model_calls_saved']:.0%} saved against one per question)"
    )
    faults = Table(title="faults (a steady stream of questions)")
    columns = ("fault", "route", "requests", "success", "degraded", "p99 before", "p99 during", "breaker open/closed")
    for column in (*columns, "normal again after"):
        faults.add_column(column)
    for f in results["faults"]:
        faults.add_row(
            f["fault"],
            f["route"],
            str(f["requests_during"]),
            f"{f['success_rate_during']:.0%}",
            f"{f['degraded_during']:.0%}",
            f"{f['p99_before_ms']} ms",
            f"{f['p99_during_ms']} ms",
            f"{f['breaker_opened_after_s']} s / {f['breaker_closed_after_s']} s",
            f"{f['answering_normally_again_after_s']} s",
        )
    console.print(faults)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--questions", type=int, default=500)
    args = parser.parse_args()
    outcome = asyncio.run(main(args.documents, args.questions))
    report(outcome)
    console.print(f"written to {save('resilience', outcome)}")
