"""What the learning loop reads from the database on the query path (a tenant's dials, served adapters, a user's
vector), held in this replica's memory for `keep_seconds`: a change made on this replica is forgotten at once, one
made elsewhere is seen within `keep_seconds`."""

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Held(Generic[K, V]):
    """A read-through memory: `get` loads a key that is missing or older than `keep_seconds`."""

    def __init__(self, keep_seconds: float) -> None:
        self._keep = keep_seconds
        self._values: dict[K, tuple[float, V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        held = self._values.get(key)
        if held is not None and time.monotonic() - held[0] < self._keep:
            return held[1]
        value = await load()
        self._values[key] = (time.monotonic(), value)
        return value

    def forget(self, key: K) -> None:
        self._values.pop(key, None)
