"""One helper for every stage that reports its own duration in `timings_ms`."""

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timed(timings: dict[str, float], stage: str, *, failed_too: bool = False) -> Iterator[None]:
    """Record how long the block took, in milliseconds, under `stage`. A stage that raised is recorded only with
    `failed_too` (an optional LLM stage whose cost matters even when it falls back)."""
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        if failed_too:
            timings[stage] = round((time.perf_counter() - started) * 1000, 2)
        raise
    timings[stage] = round((time.perf_counter() - started) * 1000, 2)
