"""The embedder over real gRPC with the packaged all-MiniLM-L6-v2."""

import grpc
import numpy as np
import pytest

from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc


@pytest.fixture
async def embedder(embedder_target):
    async with grpc.aio.insecure_channel(embedder_target) as channel:
        yield embedder_pb2_grpc.EmbedderServiceStub(channel)


async def test_embeds_a_batch_into_normalised_vectors_in_input_order(embedder):
    texts = ["The cat sat on the mat.", "A kitten rested on the rug.", "Quarterly revenue grew by 8 percent."]
    reply = await embedder.Embed(embedder_pb2.EmbedRequest(texts=texts, kind=embedder_pb2.INPUT_KIND_DOCUMENT))
    vectors = np.array([v.values for v in reply.vectors])
    assert vectors.shape == (3, 384) and reply.dimension == 384
    assert reply.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # Paraphrases land closer than unrelated text.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


async def test_same_text_gives_the_same_vector_alone_or_in_a_batch(embedder):
    alone = await embedder.Embed(embedder_pb2.EmbedRequest(texts=["hybrid search"]))
    batch = await embedder.Embed(embedder_pb2.EmbedRequest(texts=["other words", "hybrid search"]))
    assert np.allclose(alone.vectors[0].values, batch.vectors[1].values, atol=1e-5)


async def test_concurrent_callers_each_get_their_own_vectors(embedder):
    import asyncio

    texts = [f"sentence number {i} about topic {i % 7}" for i in range(40)]
    solo = [(await embedder.Embed(embedder_pb2.EmbedRequest(texts=[t]))).vectors[0].values for t in texts[:5]]
    replies = await asyncio.gather(*(embedder.Embed(embedder_pb2.EmbedRequest(texts=[t, t + "!"])) for t in texts))
    for i, reply in enumerate(replies):
        assert len(reply.vectors) == 2
        if i < 5:
            assert np.allclose(reply.vectors[0].values, solo[i], atol=1e-5)
    # Different inputs, different vectors: nothing was swapped between callers.
    firsts = np.array([r.vectors[0].values for r in replies])
    assert np.all(np.argmax(firsts @ firsts.T, axis=1) == np.arange(len(texts)))


async def test_model_info_reports_dimension_and_window(embedder):
    info = await embedder.GetModelInfo(embedder_pb2.GetModelInfoRequest())
    assert (info.dimension, info.max_sequence_length) == (384, 256)


@pytest.mark.parametrize(
    ("texts", "message"),
    [([], "texts is empty"), (["ok", "  "], "texts[1] is empty"), (["x"] * 257, "over the limit of 256")],
)
async def test_bad_batches_are_invalid_argument(embedder, texts, message):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await embedder.Embed(embedder_pb2.EmbedRequest(texts=texts))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.value.details()
