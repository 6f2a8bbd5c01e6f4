"""Channels between services over real gRPC: a circuit breaker per downstream (open after 5 failures, half-open after
the reset time, closed after 3 successes, caller mistakes never counted), and retries only for idempotent calls,
within a retry budget."""

import asyncio

import grpc
import pytest

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from ragmesh.suite import free_port
from services.gateway.config import GatewaySettings
from services.runtime.breakers import STATE, breaker
from services.runtime.channels import open_channel
from services.runtime.errors import INVALID_OUTPUT, REASON_KEY


class _Counting(ingest_pb2_grpc.IngestServiceServicer):
    """An ingest service that counts its calls and answers UNAVAILABLE (an outage) or INVALID_ARGUMENT."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.fail_with = grpc.StatusCode.UNAVAILABLE
        self.reason = ""

    async def _fail(self, name: str, context: grpc.aio.ServicerContext):
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.fail_with is not None:
            metadata = ((REASON_KEY, self.reason),) if self.reason else ()
            await context.abort(self.fail_with, f"{name} failed", trailing_metadata=metadata)

    async def GetCorpusVersion(self, request, context):
        await self._fail("GetCorpusVersion", context)
        return ingest_pb2.CorpusVersion(version="7")

    async def IngestDocument(self, request, context):
        await self._fail("IngestDocument", context)
        return ingest_pb2.IngestDocumentResponse()


async def _serve(servicer: _Counting, port: int) -> grpc.aio.Server:
    server = grpc.aio.server()
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


def _settings(**overrides: object) -> GatewaySettings:
    values = {"breaker_fail_max": 5, "breaker_reset_seconds": 0.5, "breaker_success_threshold": 3}
    return GatewaySettings(**{**values, **overrides})


async def _version(stub) -> grpc.StatusCode:
    try:
        await stub.GetCorpusVersion(ingest_pb2.GetCorpusVersionRequest(tenant="t"), timeout=5)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_reads_are_retried_and_writes_never_within_a_retry_budget():
    servicer, port = _Counting(), free_port()
    server = await _serve(servicer, port)
    async with open_channel(
        f"127.0.0.1:{port}", settings := _settings(breaker_fail_max=1000), breaker("ingest-retries", settings)
    ) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        assert await _version(stub) == grpc.StatusCode.UNAVAILABLE
        # A read is tried three times; a write once (a retried ingest could run twice).
        assert servicer.calls["GetCorpusVersion"] == 3
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.IngestDocument(ingest_pb2.IngestDocumentRequest(tenant="t"), timeout=5)
        assert servicer.calls["IngestDocument"] == 1
        # A long outage spends the retry budget: later reads are tried once, not three times.
        for _ in range(20):
            await _version(stub)
        before = servicer.calls["GetCorpusVersion"]
        await _version(stub)
        assert servicer.calls["GetCorpusVersion"] - before == 1
    await server.stop(None)


async def test_a_breaker_opens_after_five_failures_fails_fast_and_closes_after_three_successes():
    servicer, port = _Counting(), free_port()
    server = await _serve(servicer, port)
    async with open_channel(f"127.0.0.1:{port}", _settings(), breaker("ingest-breaker", _settings())) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        # A caller's mistake is not the service failing: the breaker stays closed however many there are.
        servicer.fail_with = grpc.StatusCode.INVALID_ARGUMENT
        for _ in range(8):
            assert await _version(stub) == grpc.StatusCode.INVALID_ARGUMENT
        assert STATE.labels("ingest-breaker")._value.get() == 0
        # Nor is a model that answered off its schema (the service is well; its model could not do this one).
        servicer.fail_with, servicer.reason = grpc.StatusCode.UNAVAILABLE, INVALID_OUTPUT
        for _ in range(8):
            assert await _version(stub) == grpc.StatusCode.UNAVAILABLE
        assert STATE.labels("ingest-breaker")._value.get() == 0
        servicer.reason = ""
        for _ in range(5):
            assert await _version(stub) == grpc.StatusCode.UNAVAILABLE
        assert STATE.labels("ingest-breaker")._value.get() == 2
        # Open: calls fail at once, and the service sees none of them.
        seen = sum(servicer.calls.values())
        started = asyncio.get_running_loop().time()
        for _ in range(20):
            assert await _version(stub) == grpc.StatusCode.UNAVAILABLE
        assert sum(servicer.calls.values()) == seen
        assert asyncio.get_running_loop().time() - started < 0.5
        # The service recovers; after the reset time calls go through again, and three successes close it.
        servicer.fail_with = None
        await asyncio.sleep(0.6)
        for expected in (1, 1, 0):
            assert await _version(stub) == grpc.StatusCode.OK
            assert STATE.labels("ingest-breaker")._value.get() == expected
    await server.stop(None)


async def test_a_failure_while_half_open_opens_the_breaker_again():
    servicer, port = _Counting(), free_port()
    server = await _serve(servicer, port)
    async with open_channel(f"127.0.0.1:{port}", _settings(), breaker("ingest-relapse", _settings())) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        for _ in range(5):
            await _version(stub)
        await asyncio.sleep(0.6)
        assert await _version(stub) == grpc.StatusCode.UNAVAILABLE
        assert STATE.labels("ingest-relapse")._value.get() == 2
        seen = sum(servicer.calls.values())
        assert await _version(stub) == grpc.StatusCode.UNAVAILABLE
        assert sum(servicer.calls.values()) == seen
    await server.stop(None)
