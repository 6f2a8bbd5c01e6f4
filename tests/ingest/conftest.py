"""What the ingest tests share: stubs of the suite's ingest service and retriever, and the retriever's count."""

import grpc
import pytest

from ragmesh.ingest.v1 import ingest_pb2_grpc
from ragmesh.retriever.v1 import retriever_pb2, retriever_pb2_grpc


@pytest.fixture
async def stubs(suite):
    async with (
        grpc.aio.insecure_channel(suite.ingest) as ingest,
        grpc.aio.insecure_channel(suite.retriever) as retriever,
    ):
        yield ingest_pb2_grpc.IngestServiceStub(ingest), retriever_pb2_grpc.RetrieverServiceStub(retriever)


async def indexed_chunks(retriever, tenant: str) -> int:
    """How many chunks the retriever holds for the tenant."""
    return (await retriever.GetStats(retriever_pb2.GetStatsRequest(tenant=tenant))).chunks
