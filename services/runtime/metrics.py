"""Prometheus metrics for every gRPC method."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from prometheus_client import Counter, Histogram

RPC_SECONDS = Histogram(
    "ragmesh_grpc_server_handling_seconds",
    "Time to handle a gRPC call, by method.",
    ["method"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RPC_TOTAL = Counter(
    "ragmesh_grpc_server_handled_total", "gRPC calls handled, by method and status code.", ["method", "code"]
)


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
