"""One helper for every stage of the query path: its duration in `timings_ms`, and its span in the trace."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.trace import Span

from services.runtime.telemetry import step


@contextmanager
def timed(timings: dict[str, float], stage: str, *, failed_too: bool = False) -> Iterator[Span]:
    """Record how long the block took, in milliseconds, under `stage`, inside a span named for the stage (a child of
    the request's). A stage that raised is recorded only with `failed_too` (an optional LLM stage whose cost
    matters even when it falls back); its span records the exception either way."""
    with step("gateway", stage) as span:
        started = time.perf_counter()
        try:
            yield span
        except BaseException:
            if failed_too:
                timings[stage] = round((time.perf_counter() - started) * 1000, 2)
            raise
        timings[stage] = round((time.perf_counter() - started) * 1000, 2)
