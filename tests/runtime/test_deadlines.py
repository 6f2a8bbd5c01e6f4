"""Deadlines travel over real gRPC: a service's call downstream never outlives the deadline of the call it serves,
and a call with no time left is not started."""

import asyncio

import grpc

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.gateway.config import GatewaySettings
from services.runtime.channels import open_channel
from services.runtime.host import build_host
from tests.servers import running


class _Slow(ingest_pb2_grpc.IngestServiceServicer):
    """The downstream: notes how long its caller said it would wait, then takes its time."""

    def __init__(self) -> None:
        self.allowed: list[float | None] = []

    async def GetCorpusVersion(self, request, context):
        self.allowed.append(context.time_remaining())
        await asyncio.sleep(3)
        return ingest_pb2.CorpusVersion(version="late")


class _Relay(ingest_pb2_grpc.IngestServiceServicer):
    """The middle service: calls the downstream with a generous timeout of its own (30 s)."""

    def __init__(self, downstream: ingest_pb2_grpc.IngestServiceStub) -> None:
        self._downstream = downstream

    async def GetCorpusVersion(self, request, context):
        return await self._downstream.GetCorpusVersion(request, timeout=30)


def _host(servicer) -> object:
    def register(server: grpc.aio.Server) -> list[str]:
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
        return ["ragmesh.ingest.v1.IngestService"]

    async def nothing() -> None:
        return None

    return build_host(GatewaySettings(port=0), register, nothing, nothing)


async def test_a_call_downstream_is_cut_to_what_is_left_of_the_callers_deadline():
    slow = _Slow()
    async with running(_host(slow)) as slow_target:
        async with open_channel(slow_target, GatewaySettings()) as channel:
            relay = _Relay(ingest_pb2_grpc.IngestServiceStub(channel))
            async with running(_host(relay)) as relay_target, grpc.aio.insecure_channel(relay_target) as outer:
                stub = ingest_pb2_grpc.IngestServiceStub(outer)
                started = asyncio.get_running_loop().time()
                try:
                    await stub.GetCorpusVersion(ingest_pb2.GetCorpusVersionRequest(tenant="t"), timeout=0.8)
                except grpc.aio.AioRpcError as exc:
                    assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                assert asyncio.get_running_loop().time() - started < 2.5
    # The downstream was told the caller's 0.8 s (less the hop), not the middle service's own 30 s. (gRPC carries a
    # timeout in whole units and the callee reads it against its own clock: a run once read 0.8007 s.)
    (allowed,) = slow.allowed
    assert allowed is not None and allowed <= 0.81
