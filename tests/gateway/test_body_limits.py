"""Bodies refused as they pass their limit: declared or chunked, before the gateway reads, parses or spools them."""

import resource

import httpx
import pytest

from tests.conftest import ACME
from tests.servers import gateway

MB = 1024 * 1024


@pytest.fixture(scope="module")
async def small_limits(suite):
    async with gateway(
        suite.gateway_settings(max_upload_bytes=2 * MB, max_batch_bytes=2 * MB, max_body_bytes=64 * 1024)
    ) as api:
        yield api


async def _chunked(total: int, sent: list[int]):
    """A multipart-looking body of `total` bytes in 1 MB chunks, counting what was actually sent."""
    chunk = b"x" * MB
    yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'
    for _ in range(total // MB):
        sent[0] += len(chunk)
        yield chunk


async def test_a_100_mb_chunked_upload_is_refused_without_reading_it(small_limits):
    sent = [0]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        reply = await small_limits.post(
            "/v1/documents",
            headers={**ACME, "Content-Type": "multipart/form-data; boundary=b"},
            content=_chunked(100 * MB, sent),
        )
        assert reply.status_code == 413 and "limit" in reply.json()["detail"]
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass  # the gateway answered 413 and closed while the client was still writing: refused either way
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert sent[0] < 100 * MB and grown_mb < 64, (sent[0], grown_mb)


@pytest.mark.parametrize(
    ("path", "size"), [("/v1/documents", 3 * MB), ("/v1/query", 100 * 1024), ("/v1/admin/keys", 100 * 1024)]
)
async def test_a_declared_length_over_the_limit_is_413_before_anything_is_read(small_limits, path, size):
    reply = await small_limits.post(path, headers={**ACME, "Content-Type": "application/json"}, content=b" " * size)
    assert reply.status_code == 413 and str(size) in reply.json()["detail"]


async def test_bodies_within_the_limits_still_work(small_limits):
    upload = await small_limits.post(
        "/v1/documents", headers=ACME, files={"file": ("small.txt", b"Harl owls nest in spring.", "text/plain")}
    )
    assert upload.status_code in (200, 201), upload.text
    assert (await small_limits.post("/v1/search", headers=ACME, json={"query": "owls"})).status_code == 200
