"""The services ingest writes through: the embedder and the vector store (retriever), behind their circuit breakers.
A refusal becomes InvalidArgument; anything else Unavailable, naming which of the two failed (a batch job says what
it waits for)."""

import logging

import grpc

from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from ragmesh.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from services.ingest.config import IngestSettings
from services.runtime.breakers import breaker
from services.runtime.channels import open_channel
from services.runtime.errors import InvalidArgument, ServiceError, Unavailable

log = logging.getLogger(__name__)

EMBEDDER = "the embedder"
VECTOR_STORE = "the vector store"


class Downstream:
    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings
        embedder_channel = open_channel(settings.embedder_target, settings, breaker("embedder", settings))
        retriever_channel = open_channel(settings.retriever_target, settings, breaker("retriever", settings))
        self._channels = [embedder_channel, retriever_channel]
        self._embedder = embedder_pb2_grpc.EmbedderServiceStub(embedder_channel)
        self._retriever = retriever_pb2_grpc.RetrieverServiceStub(retriever_channel)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Document vectors, `embed_batch` texts a call."""
        vectors: list[list[float]] = []
        batch = self._settings.embed_batch
        for start in range(0, len(texts), batch):
            request = embedder_pb2.EmbedRequest(
                texts=texts[start : start + batch], kind=embedder_pb2.INPUT_KIND_DOCUMENT
            )
            response = await self._call(self._embedder.Embed, request, EMBEDDER)
            vectors.extend(list(vector.values) for vector in response.vectors)
        return vectors

    async def upsert(self, tenant: str, chunks: list[retriever_pb2.Chunk]) -> None:
        batch = self._settings.upsert_batch
        for start in range(0, len(chunks), batch):
            request = retriever_pb2.UpsertRequest(tenant=tenant, chunks=chunks[start : start + batch])
            await self._call(self._retriever.Upsert, request, VECTOR_STORE)

    async def delete_chunks(
        self, tenant: str, document_id: str, keep_revision: str = "", only_revision: str = ""
    ) -> None:
        """The document's chunks: all, all but one revision's, or one revision's only."""
        request = retriever_pb2.DeleteDocumentRequest(
            tenant=tenant, document_id=document_id, keep_revision=keep_revision, only_revision=only_revision
        )
        await self._call(self._retriever.DeleteDocument, request, VECTOR_STORE)

    async def discard(self, tenant: str, document_id: str, revision: str) -> None:
        """Best effort: the chunks of a revision whose ingest failed (a failure here is logged; the write lease
        left behind has the reconciler remove them later)."""
        try:
            await self.delete_chunks(tenant, document_id, only_revision=revision)
        except ServiceError:
            log.exception("could not clean up a failed ingest of %s/%s (revision %s)", tenant, document_id, revision)

    async def set_access(self, tenant: str, document_id: str, users: list[str], groups: list[str]) -> None:
        request = retriever_pb2.SetDocumentAccessRequest(
            tenant=tenant, document_id=document_id, allowed_users=users, allowed_groups=groups
        )
        await self._call(self._retriever.SetDocumentAccess, request, VECTOR_STORE)

    async def _call(self, method, request, service: str):
        try:
            return await method(request, timeout=self._settings.call_timeout_seconds)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidArgument(exc.details() or "rejected downstream") from exc
            raise Unavailable(f"{service} is unavailable ({exc.code().name}: {exc.details()})") from exc

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
