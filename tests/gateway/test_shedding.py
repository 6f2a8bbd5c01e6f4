"""A full gateway replica sheds load: past its cap of requests in flight the next is 503 with Retry-After at once,
while health, readiness and metrics still answer; once requests finish, it serves again."""

import asyncio

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
