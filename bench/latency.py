"""Timing helpers: calls one at a time (latency), and many in flight (throughput), with a progress bar each."""

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bench.figures import percentile

console = Console(width=160)


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values_ms), 3),
        "p95_ms": round(percentile(values_ms, 0.95), 3),
        "p99_ms": round(percentile(values_ms, 0.99), 3),
        "n": len(values_ms),
    }


async def one_at_a_time(label: str, call: Callable[[Any], Awaitable[object]], items: Sequence[Any]) -> list[float]:
    """Each item's call after the previous one ended; the latencies in ms."""
    return (await in_turn(label, {label: (call, items)}))[label]


async def in_turn(
    label: str, calls: dict[str, tuple[Callable[[Any], Awaitable[object]], Sequence[Any]]], block: int = 20
) -> dict[str, list[float]]:
    """Each named call over its own items, one at a time, `block` calls of one then `block` of the next, in turn
    until every list is done: drift in the machine's load falls on all alike, so their ratios hold even when the
    machine is busy. The latencies in ms, by name."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    left = {name: list(reversed(items)) for name, (_, items) in calls.items()}
    with progress() as bar:
        task = bar.add_task(label, total=sum(len(items) for _, items in calls.values()))
        while any(left.values()):
            for name, (call, _) in calls.items():
                for _ in range(min(block, len(left[name]))):
                    item = left[name].pop()
                    started = time.perf_counter()
                    await call(item)
                    samples[name].append((time.perf_counter() - started) * 1000)
                    bar.advance(task)
    return samples


async def in_flight(label: str, call: Callable[[Any], Awaitable[object]], items: Sequence[Any], width: int) -> dict:
    """`width` calls in flight at all times until every item is done: requests a second, latency percentiles
    and errors (a call that raised)."""
    queue = list(reversed(items))
    samples: list[float] = []
    errors = 0
    with progress() as bar:
        task = bar.add_task(label, total=len(items))

        async def worker() -> None:
            nonlocal errors
            while queue:
                item = queue.pop()
                started = time.perf_counter()
                try:
                    await call(item)
                    samples.append((time.perf_counter() - started) * 1000)
                except Exception:
                    errors += 1
                bar.advance(task)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(width)))
        elapsed = time.perf_counter() - started
    return {
        "per_s": round(len(items) / elapsed, 1),
        "in_flight": width,
        "errors": errors,
        **summary(samples or [0.0]),
    }
