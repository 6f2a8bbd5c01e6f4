"""The shared gRPC host: readiness follows warm-up, errors map to statuses, stop drains."""

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from services.runtime.errors import InvalidArgument
from services.runtime.host import build_host
from services.runtime.settings import ServiceSettings

SERVICE = "ragmesh.embedder.v1.EmbedderService"


class Faulty(embedder_pb2_grpc.EmbedderServiceServicer):
    """Fails in the two ways the interceptor must tell apart."""

    async def Embed(self, request, context):
        if request.texts and request.texts[0] == "bad":
            raise InvalidArgument("texts[0] is bad", reason="demo")
        raise ZeroDivisionError("a bug")


def _register(server: grpc.aio.Server) -> list[str]:
    embedder_pb2_grpc.add_EmbedderServiceServicer_to_server(Faulty(), server)
    return [SERVICE]


async def test_health_is_not_serving_until_warm_up_finishes():
    release = asyncio.Event()

    async def slow_warm_up() -> None:
        await release.wait()

    async def close() -> None:
        return None

    host = build_host(ServiceSettings(), _register, slow_warm_up, close)
    starting = asyncio.create_task(host.start())
    async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(100):
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=1)
                break
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.02)
        assert reply.status != health_pb2.HealthCheckResponse.SERVING
        release.set()
        await starting
        reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=1)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING

        # Reflection lists the service, so grpcurl and friends work against any replica.
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)

        async def ask():
            yield reflection_pb2.ServerReflectionRequest(list_services="")

        async for answer in reflection.ServerReflectionInfo(ask()):
            names = {s.name for s in answer.list_services_response.service}
            assert SERVICE in names and "grpc.health.v1.Health" in names
            break

        await host.stop(grace=0.5)
        with pytest.raises(grpc.aio.AioRpcError):
            await health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=1)


async def test_expected_errors_keep_their_message_and_bugs_become_internal():
    async def nothing() -> None:
        return None

    host = build_host(ServiceSettings(), _register, nothing, nothing)
    await host.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await stub.Embed(embedder_pb2.EmbedRequest(texts=["bad"]))
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert bad.value.details() == "texts[0] is bad"
            assert ("ragmesh-reason", "demo") in tuple(bad.value.trailing_metadata())
            with pytest.raises(grpc.aio.AioRpcError) as bug:
                await stub.Embed(embedder_pb2.EmbedRequest(texts=["x"]))
            assert bug.value.code() == grpc.StatusCode.INTERNAL
            assert "ZeroDivisionError" not in bug.value.details()
    finally:
        await host.stop(grace=0.5)
