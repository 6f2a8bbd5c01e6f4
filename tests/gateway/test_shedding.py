"""A full gateway replica sheds load, and a stopping one drains: past its cap of requests in flight the next is 503 with Retry-After at once,
while health, readiness and metrics still answer; once requests finish, it serves again."""

import asyncio

import httpx
import pytest
import uvicorn

from ragmesh.suite import free_port
from services.gateway.app import create_app
from tests.conftest import ACME
from tests.servers import gateway


async def test_past_its_cap_a_replica_answers_503_at_once_and_probes_still_pass(suite):
    async with gateway(suite.gateway_settings(max_in_flight_requests=2)) as api:
        release = asyncio.Event()

        async def slow_body():
            # A client that sends its body slowly keeps its request in flight until released.
            yield b'{"query": "ferry",'
            await release.wait()
            yield b' "top_k": 1}'

        held = [
            asyncio.ensure_future(
                api.post("/v1/search", headers={**ACME, "Content-Type": "application/json"}, content=slow_body())
            )
            for _ in range(2)
        ]
        await asyncio.sleep(0.3)
        shed = await api.post("/v1/search", headers=ACME, json={"query": "ferry", "top_k": 1})
        assert shed.status_code == 503 and shed.headers["Retry-After"] == "1"
        assert "capacity" in shed.json()["detail"]
        assert (await api.get("/healthz")).status_code == 200
        assert (await api.get("/readyz")).status_code == 200
        release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        assert (await api.post("/v1/search", headers=ACME, json={"query": "ferry", "top_k": 1})).status_code == 200


async def test_a_stopping_gateway_finishes_every_request_in_flight_and_takes_no_new_one(suite):
    """What SIGTERM does (uvicorn's graceful shutdown, for the grace the chart gives the pod): stop listening,
    let the requests in flight finish, then exit."""
    settings = suite.gateway_settings(host="127.0.0.1", port=free_port(), grace_seconds=30)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=settings.port,
            log_level="warning",
            timeout_graceful_shutdown=settings.grace_seconds,
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    release = asyncio.Event()

    async def slow_body():
        yield b'{"query": "ferry",'
        await release.wait()
        yield b' "top_k": 1}'

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=60) as api:
        headers = {**ACME, "Content-Type": "application/json"}
        in_flight = [
            asyncio.ensure_future(api.post("/v1/search", headers=headers, content=slow_body())) for _ in range(3)
        ]
        await asyncio.sleep(0.3)
        server.should_exit = True  # as on SIGTERM
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(timeout=5) as newcomer:
            with pytest.raises(httpx.ConnectError):
                await newcomer.get(f"http://127.0.0.1:{settings.port}/healthz")
        release.set()
        assert [r.status_code for r in await asyncio.gather(*in_flight)] == [200, 200, 200]
    await serving
