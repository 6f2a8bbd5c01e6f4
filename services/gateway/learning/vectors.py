"""Texts as the embedder sees them, for what the learning loop learns in the embedding space (dials, per-user
vectors, adapters): passages embedded as documents, questions as queries, in batches."""

import numpy as np

from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc

BATCH = 64


async def embed_passages(
    embedder: embedder_pb2_grpc.EmbedderServiceStub,
    texts: list[str],
    timeout: float,
    kind: embedder_pb2.InputKind = embedder_pb2.INPUT_KIND_DOCUMENT,
) -> tuple[np.ndarray, str]:
    """The texts' vectors (rows, float32) and the model that made them; `kind` INPUT_KIND_QUERY for questions."""
    rows, model = [], ""
    for start in range(0, len(texts), BATCH):
        reply = await embedder.Embed(
            embedder_pb2.EmbedRequest(texts=texts[start : start + BATCH], kind=kind), timeout=timeout
        )
        rows += [list(vector.values) for vector in reply.vectors]
        model = reply.model
    return np.asarray(rows, dtype=np.float32), model
