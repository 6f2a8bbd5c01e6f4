"""HTTP(S) sources fetched the way a polite crawler fetches them: robots.txt honoured (protego), a per-host pace
(aiolimiter; robots.txt's Crawl-delay when it asks for a slower one), conditional requests (`If-None-Match`,
`If-Modified-Since`) so that an unchanged page costs one 304 and nothing more, retries with exponential back-off and
jitter (tenacity) on network errors, 429 and 5xx, a size cap while the body streams, and exclusion lists: URL
prefixes that are never fetched, and pages that opt out of AI use (`X-Robots-Tag: noai`).

robots.txt follows RFC 9309: a 4xx (none) allows everything, a 5xx or an unreachable one disallows everything for
now; each host's rules are kept for `robots_cache_seconds`.
"""

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from aiolimiter import AsyncLimiter
from protego import Protego
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from services.ingest.config import IngestSettings
from services.runtime.errors import InvalidArgument, Unavailable

USER_AGENT = "ragmesh-ingest/0.1 (+https://github.com/ragmesh/ragmesh)"
ROBOTS_AGENT = "ragmesh"


@dataclass(frozen=True)
class Fetched:
    """A page: changed (its bytes), or unchanged since the validators given."""

    url: str
    changed: bool
    content: bytes = b""
    content_type: str = ""
    etag: str = ""
    last_modified: str = ""


class _Retryable(Exception):
    """A 429 or 5xx answer: worth another try after a pause."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (_Retryable, httpx.TransportError))


class Fetcher:
    def __init__(self, settings: IngestSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._client = httpx.AsyncClient(
            headers={"User-Agent": USER_AGENT},
            timeout=settings.fetch_timeout_seconds,
            follow_redirects=True,
            max_redirects=5,
            transport=transport,
        )
        self._robots: dict[str, tuple[float, Protego | None]] = {}
        self._pace: dict[str, AsyncLimiter] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def fetch(self, url: str, etag: str = "", last_modified: str = "") -> Fetched:
        """The page at `url`, or that it is unchanged since `etag` / `last_modified`. InvalidArgument (the reason
        says which rule) for a URL that is malformed, excluded, disallowed by robots.txt or over the size limit;
        Unavailable when the host keeps failing."""
        origin = self._check(url)
        if not await self._allowed(origin, url):
            raise InvalidArgument(f"robots.txt of {origin} disallows fetching {url}", reason="excluded")
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        s = self._settings
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_retryable),
                wait=wait_random_exponential(multiplier=s.fetch_retry_first_seconds, max=s.fetch_retry_most_seconds),
                stop=stop_after_attempt(s.fetch_attempts),
                reraise=True,
            ):
                with attempt:
                    return await self._get(origin, url, headers)
        except (_Retryable, httpx.TransportError) as exc:
            raise Unavailable(f"{origin} did not answer after {s.fetch_attempts} tries: {exc}") from exc
        raise AssertionError("unreachable")

    def _check(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument(f"{url!r} is not an http(s) URL")
        if any(url.startswith(prefix) for prefix in self._settings.excluded_url_prefixes):
            raise InvalidArgument(f"{url} is on the exclusion list", reason="excluded")
        return f"{parts.scheme}://{parts.netloc}"

    async def _get(self, origin: str, url: str, headers: dict[str, str]) -> Fetched:
        async with self._limiter(origin):
            async with self._client.stream("GET", url, headers=headers) as reply:
                if reply.status_code == 304:
                    return Fetched(url, changed=False, etag=headers.get("If-None-Match", ""))
                if reply.status_code == 429 or reply.status_code >= 500:
                    raise _Retryable(f"{reply.status_code} from {url}")
                if reply.status_code >= 400:
                    raise InvalidArgument(f"{url} answered {reply.status_code}", reason="unprocessable")
                if "noai" in reply.headers.get("x-robots-tag", "").lower():
                    raise InvalidArgument(f"{url} opts out of AI use (X-Robots-Tag: noai)", reason="excluded")
                content = await self._body(reply, url)
                return Fetched(
                    url=str(reply.url),
                    changed=True,
                    content=content,
                    content_type=reply.headers.get("content-type", "").split(";")[0].strip(),
                    etag=reply.headers.get("etag", ""),
                    last_modified=reply.headers.get("last-modified", ""),
                )

    async def _body(self, reply: httpx.Response, url: str) -> bytes:
        limit = self._settings.max_document_bytes
        body = bytearray()
        async for chunk in reply.aiter_bytes():
            body.extend(chunk)
            if len(body) > limit:
                raise InvalidArgument(f"{url} is larger than the limit of {limit} bytes", reason="too_large")
        return bytes(body)

    def _limiter(self, origin: str) -> AsyncLimiter:
        if origin not in self._pace:
            self._pace[origin] = AsyncLimiter(1, 1 / self._settings.fetch_per_host_per_second)
        return self._pace[origin]

    async def _allowed(self, origin: str, url: str) -> bool:
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            cached = self._robots.get(origin)
            if cached is None or cached[0] < time.monotonic():
                rules = await self._robots_of(origin)
                self._robots[origin] = (time.monotonic() + self._settings.robots_cache_seconds, rules)
                delay = rules.crawl_delay(ROBOTS_AGENT) if rules is not None else None
                if delay and 1 / delay < self._settings.fetch_per_host_per_second:
                    self._pace[origin] = AsyncLimiter(1, float(delay))
            rules = self._robots[origin][1]
        return rules is not None and rules.can_fetch(url, ROBOTS_AGENT)

    async def _robots_of(self, origin: str) -> Protego | None:
        """The host's rules; an allow-all for a 4xx, None (disallow all) for a 5xx or no answer."""
        try:
            async with self._limiter(origin):
                reply = await self._client.get(f"{origin}/robots.txt")
        except httpx.HTTPError:
            return None
        if reply.status_code >= 500:
            return None
        if reply.status_code >= 400:
            return Protego.parse("")
        return Protego.parse(reply.text)

    async def close(self) -> None:
        await self._client.aclose()
