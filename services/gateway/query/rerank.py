"""The re-ranking stage: a cross-encoder behind Text Embeddings Inference's /rerank endpoint.

No cross-encoder ships inside a package we can install offline, so there is no local one: with no
`reranker_url` configured the stage is skipped (and says so in the response's timings), never faked.
Diversity re-ranking (MMR) needs no model and lives in the retriever.
"""

import logging

import httpx

from services.gateway.config import GatewaySettings
from services.runtime.telemetry import instrument_httpx

log = logging.getLogger(__name__)


class Reranker:
    """Scores (query, passage) pairs with a TEI reranker and returns the passages' new order."""

    def __init__(self, settings: GatewaySettings) -> None:
        self._url = settings.reranker_url.rstrip("/")
        self._timeout = settings.reranker_timeout_seconds
        self._settings = settings
        # One client for the process's life: a new one builds its TLS context each time (about 20 ms).
        self._client: httpx.AsyncClient | None = None

    @property
    def configured(self) -> bool:
        return bool(self._url)

    async def order(self, query: str, texts: list[str]) -> list[tuple[int, float]]:
        """(index into texts, score), best first. Raises httpx.HTTPError when the server fails."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
            # A span per call, and the trace's context to the TEI server.
            instrument_httpx(self._client, self._settings)
        reply = await self._client.post(f"{self._url}/rerank", json={"query": query, "texts": texts, "truncate": True})
        reply.raise_for_status()
        try:
            ranked = [(int(item["index"]), float(item["score"])) for item in reply.json()]
        except (ValueError, KeyError, TypeError) as exc:
            # A 200 with an HTML error page, or JSON of another shape: a failure like any other.
            raise httpx.DecodingError(f"the reranker answered something other than scores ({exc})") from exc
        if sorted(index for index, _ in ranked) != list(range(len(texts))):
            raise httpx.DecodingError("the reranker did not score every passage exactly once")
        return sorted(ranked, key=lambda pair: -pair[1])
