"""Prometheus metrics every service shares: per gRPC method (rate, errors, duration), and per cache layer."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from prometheus_client import Counter, Gauge, Histogram

RPC_SECONDS = Histogram(
    "ragmesh_grpc_server_handling_seconds",
    "Time to handle a gRPC call, by method.",
    ["method"],
    # From a cached embedding (about a millisecond) to a long generation (a minute).
    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)
RPC_TOTAL = Counter(
    "ragmesh_grpc_server_handled_total", "gRPC calls handled, by method and status code.", ["method", "code"]
)
# Cache layers: answer, semantic, retrieval (the gateway), embedding (the embedder; per text).
CACHE_HITS = Counter("cache_hits", "Cache lookups that found an entry, by layer.", ["layer"])
CACHE_MISSES = Counter("cache_misses", "Cache lookups that found none, by layer.", ["layer"])
CACHE_SIZE = Gauge("cache_size", "Entries a cache layer holds (every tenant), as last counted.", ["layer"])


@asynccontextmanager
async def observe_call(method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
    """Times the call and counts it under its final status code."""
    started, failed = time.perf_counter(), True
    try:
        yield
        failed = False
    finally:
        RPC_SECONDS.labels(method).observe(time.perf_counter() - started)
        code = context.code()
        name = getattr(code, "name", None) or ("UNKNOWN" if failed else "OK")
        RPC_TOTAL.labels(method, name).inc()
