"""Rows written after the response: a request hands its row over and goes; one writer at a time takes every row
waiting, so under load one commit carries many requests instead of one each. Readers that must see every row handed
over so far wait for them (`flush`), and so does the replica's shutdown. The writer lingers a moment before it takes
the rows, so that requests coming one at a time share a commit too (one each cost the gateway a transaction's CPU,
half a cached answer's)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)
# How long the writer waits for more rows before a commit. A commit costs the gateway ~1.2 ms of CPU whatever it
# carries (measured: five usage rows through SQLite), so at 50 ms a search coming every ~10 ms still paid ~0.25 ms
# a table; at 250 ms it pays a fifth of that. What a crash can lose is what waits (LiteLLM's proxy batches its
# spend writes by seconds: `proxy_batch_write_at`).
LINGER_SECONDS = 0.25


class BatchedWrites:
    """Appends rows through `write` (one transaction per batch). A table that cannot take them never fails the
    request that made them (its work is done): the loss is logged and counted in `failures`."""

    def __init__(self, write: Callable[[list[dict[str, object]]], Awaitable[None]], what: str, failures: Counter):
        self._write_rows = write
        self._what = what
        self._failures = failures
        self._waiting: list[dict[str, object]] = []
        self._writer: asyncio.Task | None = None

    def add(self, row: dict[str, object]) -> None:
        self._waiting.append(row)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())

    async def flush(self) -> None:
        """Wait until every row added so far is written (or its loss logged)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write(self) -> None:
        while self._waiting:
            await asyncio.sleep(LINGER_SECONDS)
            rows, self._waiting = self._waiting, []
            try:
                await self._write_rows(rows)
            except SQLAlchemyError as exc:
                self._failures.inc(len(rows))
                log.error(
                    "%s: writing %d rows failed (first of tenant %s): %s",
                    self._what,
                    len(rows),
                    rows[0].get("tenant"),
                    exc,
                )
