"""What tracing costs a request: a retrieval-only `POST /v1/query` through the real multi-process suite with
OpenTelemetry tracing on and every request traced to a collector, a tenth of requests traced to it (the production
example's), every request "traced" with no collector configured (`ragmesh up`'s default: nothing is recorded, ids
are still made), and tracing off, in the same run. The collector is an OTLP/gRPC trace receiver in this process that
counts what it is sent.

Four suites run side by side (`ragmesh up` on free ports, each with its own Redis and data), hold the same
documents, and get the same questions, one request at a time, in turn, so that drift in the machine's load falls on
all alike. Every question is new to both (no cache answers it). Prometheus metrics stay on
in both: prometheus_client cannot be turned off, and its counters are part of what every request pays.

    python -m bench.observability [--requests 500] [--documents 40]
Results: printed, and written to bench/results/observability-<UTC time>.json.
"""

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from rich.console import Console
from rich.table import Table

from bench.figures import percentile, save
from ragmesh.suite import SERVICES, BackgroundSuite

console = Console()
KEY = "bench-observability"
TOPICS = ("ferry", "train", "bus", "tram", "flight", "boat", "coach", "shuttle")
PLACES = ("Harl", "Orm", "Tessel", "Brim", "Vask", "Lund", "Arro", "Kell", "Myr", "Sund")


def _document(i: int) -> bytes:
    topic, place = TOPICS[i % len(TOPICS)], PLACES[i % len(PLACES)]
    return (
        f"# The {place} {topic}, route {i}\n\nThe {place} {topic} on route {i} leaves at {6 + i % 12}:{i % 60:02d} "
        f"on weekdays and at {8 + i % 10}:15 on Sundays. Tickets for route {i} are sold on board.\n"
    ).encode()


def _question(i: int) -> str:
    return f"When does the {PLACES[i % len(PLACES)]} {TOPICS[i % len(TOPICS)]} on route {i % 997} leave, case {i}?"


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 3),
        "p95_ms": round(percentile(values, 0.95), 3),
        "mean_ms": round(statistics.fmean(values), 3),
    }


async def _ask(client: httpx.AsyncClient, question: str) -> tuple[float, str]:
    started = time.perf_counter()
    reply = await client.post("/v1/query", json={"question": question, "generate": False})
    elapsed = (time.perf_counter() - started) * 1000
    reply.raise_for_status()
    return elapsed, reply.headers.get("X-Trace-Id", "")


def _settings(tracing: bool, ratio: float, collector: str = "") -> dict[str, str]:
    return {
        f"RAGMESH_{name.upper()}_{setting}": value
        for name in SERVICES
        for setting, value in (
            ("TRACING", str(tracing).lower()),
            ("TRACE_SAMPLE_RATIO", str(ratio)),
            ("OTLP_ENDPOINT", collector),
        )
    }


def configurations(collector: str) -> dict[str, dict[str, str]]:
    return {
        "every request traced": _settings(True, 1.0, collector),
        "a tenth traced": _settings(True, 0.1, collector),
        "no collector": _settings(True, 1.0),
        "tracing off": _settings(False, 1.0),
    }


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver: counts the spans it is sent."""

    def __init__(self) -> None:
        self.spans = 0

    async def Export(self, request, context):
        self.spans += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        return trace_service_pb2.ExportTraceServiceResponse()


async def main(requests: int, documents: int) -> dict:
    collector, server = _Collector(), grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    with contextlib.ExitStack() as dirs:
        async with contextlib.AsyncExitStack() as running:
            running.push_async_callback(server.stop, 0)
            clients = {}
            for name, env in configurations(f"http://127.0.0.1:{port}").items():
                data_dir = Path(dirs.enter_context(tempfile.TemporaryDirectory(prefix="ragmesh-bench-")))
                clients[name] = await running.enter_async_context(
                    BackgroundSuite(data_dir, {KEY: "bench"}, env).serving(console, KEY)
                )
            for client in clients.values():
                for i in range(documents):
                    files = {"file": (f"route-{i}.md", _document(i), "text/markdown")}
                    (await client.post("/v1/documents", files=files)).raise_for_status()
            # Warm each (first calls load code paths and fill connection pools), then measure.
            for i in range(20):
                for client in clients.values():
                    await _ask(client, _question(100_000 + i))
            times: dict[str, list[float]] = {name: [] for name in clients}
            traces: dict[str, set[str]] = {name: set() for name in clients}
            order = list(clients)
            for i in range(requests):
                # Each configuration goes first, second, third and last in turn.
                for name in order[i % len(order) :] + order[: i % len(order)]:
                    elapsed, trace = await _ask(clients[name], _question(i))
                    times[name].append(elapsed)
                    traces[name].add(trace)
            healthz = []
            for _ in range(200):
                started = time.perf_counter()
                (await clients["tracing off"].get("/healthz")).raise_for_status()
                healthz.append((time.perf_counter() - started) * 1000)
    summaries = {name: _summary(values) for name, values in times.items()}
    base = summaries["tracing off"]
    for name, summary in summaries.items():
        summary["added_p50_ms"] = round(summary["p50_ms"] - base["p50_ms"], 3)
        summary["added_p95_ms"] = round(summary["p95_ms"] - base["p95_ms"], 3)
        summary["ratio_p50"] = round(summary["p50_ms"] / base["p50_ms"], 3)
        summary["distinct_trace_ids"] = len(traces[name] - {""})
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "requests_each": requests,
        "documents": documents,
        "configurations": summaries,
        "http_floor_healthz": _summary(healthz),
        "spans_collected": collector.spans,
    }


def report(results: dict) -> None:
    table = Table(title=f"retrieval-only POST /v1/query, {results['requests_each']} requests each, in turn")
    for column in ("configuration", "p50 ms", "p95 ms", "added p50 ms", "added p95 ms", "trace ids"):
        table.add_column(column)
    for name, row in results["configurations"].items():
        table.add_row(
            name,
            str(row["p50_ms"]),
            str(row["p95_ms"]),
            str(row["added_p50_ms"]),
            str(row["added_p95_ms"]),
            str(row["distinct_trace_ids"]),
        )
    console.print(table)
    console.print(f"GET /healthz p50 {results['http_floor_healthz']['p50_ms']} ms (the HTTP floor)")
    console.print(f"spans the collector received: {results['spans_collected']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--documents", type=int, default=40)
    args = parser.parse_args()
    results = asyncio.run(main(args.requests, args.documents))
    report(results)
    console.print(f"written to {save('observability', results)}")
