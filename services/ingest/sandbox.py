"""Extraction outside the service: worker processes with a memory cap and a time limit, so that a crafted PDF or a
deeply nested HTML file costs its own sender a refusal and nobody else anything (health checks and other tenants'
documents go on being served while it runs).

pebble's process pool does the work: it runs each extraction in a worker, kills the worker whose task runs past its
timeout and starts another, and reports a worker that died (out of memory, a crash in a parser) as an error of that
one task. Workers come from a forkserver (never forked from the service itself, whose gRPC threads must not be
copied into a child) and are replaced every `_TASKS_PER_WORKER` documents, so a parser's leaks do not accumulate.
"""

import asyncio
import multiprocessing
import resource
from concurrent.futures import TimeoutError as ExtractionTimeout

from pebble import ProcessExpired, ProcessPool

from services.ingest.extract import Extracted, Unreadable, extract

_TASKS_PER_WORKER = 200


def _cap_memory(megabytes: int) -> None:
    """In each worker: the address space it may use; past it a parser gets MemoryError, not the machine's memory."""
    if megabytes:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _extract(content: bytes, content_type: str, title: str, max_pages: int, max_chars: int) -> Extracted:
    try:
        return extract(content, content_type, title, max_pages=max_pages, max_chars=max_chars)
    except MemoryError:
        raise Unreadable(
            "the document needs more memory to extract than a worker is given", reason="too_large"
        ) from None


class Sandbox:
    """Runs extractions in `workers` processes, each held to `memory_mb` and every task to `timeout_seconds`."""

    def __init__(self, workers: int, timeout_seconds: float, memory_mb: int, max_pages: int, max_chars: int) -> None:
        self._timeout = timeout_seconds
        self._memory_mb = memory_mb
        self._limits = (max_pages, max_chars)
        context = multiprocessing.get_context("forkserver")
        # The worker imports the parsers once, before any task.
        context.set_forkserver_preload(["services.ingest.extract"])
        self._pool = ProcessPool(
            max_workers=workers,
            max_tasks=_TASKS_PER_WORKER,
            initializer=_cap_memory,
            initargs=(memory_mb,),
            context=context,
        )

    async def extract(self, content: bytes, content_type: str, title: str = "") -> Extracted:
        """The document's structured text; Unreadable (the reason says which limit) when it is past a limit."""
        future = self._pool.schedule(
            _extract, args=(content, content_type, title, *self._limits), timeout=self._timeout
        )
        try:
            return await asyncio.wrap_future(future)
        except ExtractionTimeout:
            raise Unreadable(
                f"extraction took longer than {self._timeout:g} s and was stopped", reason="too_complex"
            ) from None
        except ProcessExpired as exc:
            raise Unreadable(
                f"the extractor stopped on this document (exit code {exc.exitcode}; its memory limit is "
                f"{self._memory_mb} MB)",
                reason="too_complex",
            ) from None
        except asyncio.CancelledError:
            future.cancel()
            raise

    def close(self) -> None:
        self._pool.stop()
        self._pool.join(timeout=10)
