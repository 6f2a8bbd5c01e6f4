"""Each tenant's corpus version, from its truth: the ingest catalogue."""

import logging

import grpc

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc

log = logging.getLogger(__name__)


class CorpusVersions:
    """Each tenant's corpus version, asked of the ingest service for every question: its catalogue changes the
    version in the same transaction as any change to the tenant's documents, their permissions or its schema. So a
    cache keyed on it can never serve an entry from before a change, whatever happened to Redis meanwhile."""

    def __init__(self, ingest: ingest_pb2_grpc.IngestServiceStub, timeout_seconds: float) -> None:
        self._ingest = ingest
        self._timeout = timeout_seconds

    async def current(self, tenant: str) -> str:
        """The version, or "" when the catalogue cannot say (then nothing is cached or served from a cache)."""
        try:
            reply = await self._ingest.GetCorpusVersion(
                ingest_pb2.GetCorpusVersionRequest(tenant=tenant), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("corpus version unavailable (%s); answering without caches", exc.code().name)
            return ""
        return reply.version
