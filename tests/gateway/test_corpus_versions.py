"""Corpus versions kept in the gateway's memory: asked of the catalogue once while ingest announces its changes, and
asked again after each change, whether this replica forwarded it or only heard of it; never kept when ingest does
not announce or the subscription is lost."""

import asyncio
import contextlib

import grpc

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from ragmesh.suite import redis_server
from services.gateway.query.caches.versions import CorpusVersions
from services.ingest.config import IngestSettings
from services.ingest.server import create_server as create_ingest
from tests.servers import running


class CountingAsks(grpc.aio.UnaryUnaryClientInterceptor):
    """Counts the GetCorpusVersion calls that reach the ingest service."""

    def __init__(self) -> None:
        self.asks = 0

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        self.asks += client_call_details.method.endswith(b"/GetCorpusVersion")
        return await continuation(client_call_details, request)


@contextlib.asynccontextmanager
async def replica(ingest_target: str, redis_url: str, keep_seconds: float = 60.0):
    """What one gateway replica holds: its versions, listening on `redis_url`, on an ingest channel of its own."""
    counting, versions = CountingAsks(), CorpusVersions(5.0, keep_seconds)
    channel = grpc.aio.insecure_channel(ingest_target, interceptors=[counting, versions.interceptor()])
    versions.ingest = ingest_pb2_grpc.IngestServiceStub(channel)
    versions.listen(redis_url, None, 1.0)
    try:
        yield versions, counting
    finally:
        await versions.close()
        await channel.close()


async def until(condition, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not within the time allowed")


def _document(tenant: str, text: str) -> ingest_pb2.IngestDocumentRequest:
    content = f"# Timetable\n\n{text}\n".encode()
    return ingest_pb2.IngestDocumentRequest(tenant=tenant, filename="t.md", content=content, document_id="t")


async def test_a_version_is_asked_once_and_again_after_every_change_heard_of_or_forwarded(suite):
    async with (
        replica(suite.ingest, suite.redis_url) as (versions, counting),
        grpc.aio.insecure_channel(suite.ingest) as elsewhere,
    ):
        await until(lambda: versions.listening)
        first = await versions.current("versions-heard")
        assert [await versions.current("versions-heard") for _ in range(5)] == [first] * 5
        assert counting.asks == 1

        # Another replica (another channel) changes the corpus: the announcement drops the kept version.
        await ingest_pb2_grpc.IngestServiceStub(elsewhere).IngestDocument(_document("versions-heard", "At 07:15."))
        await until(lambda: counting.asks == 1 and versions._known.get("versions-heard") is None)
        second = await versions.current("versions-heard")
        assert second != first and counting.asks == 2

        # A change this replica forwards is seen at once, announcement or not.
        await versions.ingest.IngestDocument(_document("versions-heard", "At 09:40."))
        third = await versions.current("versions-heard")
        assert third != second and counting.asks == 3
        assert await versions.current("versions-heard") == third and counting.asks == 3


async def test_an_ingest_that_does_not_announce_is_asked_for_every_question(suite, tmp_path):
    quiet = IngestSettings(data_dir=tmp_path, embedder_target=suite.embedder, retriever_target=suite.retriever)
    async with running(create_ingest(quiet)) as target, replica(target, suite.redis_url) as (versions, counting):
        await until(lambda: versions.listening)
        for _ in range(3):
            await versions.current("versions-quiet")
        assert counting.asks == 3


async def test_an_unheard_change_waits_at_most_keep_seconds_and_a_lost_subscription_asks_every_time(suite, tmp_path):
    with contextlib.ExitStack() as deaf:
        # This replica listens on a Redis where ingest does not announce: as if every announcement were lost.
        deaf_url = deaf.enter_context(redis_server(tmp_path))
        async with replica(suite.ingest, deaf_url, keep_seconds=0.5) as (versions, counting):
            await until(lambda: versions.listening)
            first = await versions.current("versions-deaf")
            async with grpc.aio.insecure_channel(suite.ingest) as elsewhere:
                await ingest_pb2_grpc.IngestServiceStub(elsewhere).IngestDocument(_document("versions-deaf", "07:15"))
            assert await versions.current("versions-deaf") == first  # unheard, and within keep_seconds
            await asyncio.sleep(0.5)
            assert await versions.current("versions-deaf") != first

            deaf.close()  # its Redis stops: no subscription, so nothing is kept and every call asks
            await until(lambda: not versions.listening)
            asks = counting.asks
            for _ in range(3):
                await versions.current("versions-deaf")
            assert counting.asks == asks + 3
