"""gRPC adapter from EmbedderService messages to an Embedder."""

import time

import grpc

from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from services.embedder.model import Embedder
from services.runtime.errors import InvalidArgument


class EmbedderServicer(embedder_pb2_grpc.EmbedderServiceServicer):
    """Validates a batch and hands it to the embedder."""

    def __init__(self, embedder: Embedder, max_batch: int) -> None:
        self._embedder = embedder
        self._max_batch = max_batch

    async def Embed(
        self, request: embedder_pb2.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> embedder_pb2.EmbedResponse:
        texts = list(request.texts)
        if not texts:
            raise InvalidArgument("texts is empty: send at least one text")
        if len(texts) > self._max_batch:
            raise InvalidArgument(f"batch of {len(texts)} texts is over the limit of {self._max_batch}")
        blank = [i for i, text in enumerate(texts) if not text.strip()]
        if blank:
            raise InvalidArgument(f"texts[{blank[0]}] is empty or only whitespace")
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining
        vectors = await self._embedder.embed(
            texts, is_query=request.kind == embedder_pb2.INPUT_KIND_QUERY, deadline=deadline
        )
        return embedder_pb2.EmbedResponse(
            vectors=[embedder_pb2.Vector(values=row.tolist()) for row in vectors],
            model=self._embedder.model_name,
            dimension=int(vectors.shape[1]),
        )

    async def GetModelInfo(
        self, request: embedder_pb2.GetModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> embedder_pb2.GetModelInfoResponse:
        return embedder_pb2.GetModelInfoResponse(
            model=self._embedder.model_name,
            dimension=self._embedder.dimension,
            max_sequence_length=self._embedder.max_sequence_length,
        )
