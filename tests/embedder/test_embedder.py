"""The embedder over real gRPC with the packaged all-MiniLM-L6-v2."""

import asyncio

import grpc
import numpy as np
import pytest

from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from ragmesh.suite import free_port
from services.embedder.config import EmbedderSettings
from services.embedder.model import DROPPED
from services.embedder.server import create_server
from services.runtime.metrics import CACHE_HITS
from tests.servers import running


@pytest.fixture
async def embedder(embedder_target):
    async with grpc.aio.insecure_channel(embedder_target) as channel:
        yield embedder_pb2_grpc.EmbedderServiceStub(channel)


async def test_embeds_a_batch_into_normalised_vectors_in_input_order(embedder):
    texts = ["The cat sat on the mat.", "A kitten rested on the rug.", "Quarterly revenue grew by 8 percent."]
    reply = await embedder.Embed(embedder_pb2.EmbedRequest(texts=texts, kind=embedder_pb2.INPUT_KIND_DOCUMENT))
    vectors = np.array([v.values for v in reply.vectors])
    assert vectors.shape == (3, 384) and reply.dimension == 384
    assert reply.model.startswith("sentence-transformers/all-MiniLM-L6-v2")
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


def _dropped() -> float:
    return sum(DROPPED.labels(why)._value.get() for why in ("cancelled", "deadline"))


async def test_work_whose_caller_gave_up_is_dropped_and_a_full_queue_refuses_at_once():
    async with running(create_server(EmbedderSettings(max_queued_texts=600, encode_batch_size=64))) as target:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
            long_texts = [f"passage {i} " + "about ferries and harbours " * 20 for i in range(256)]
            before = _dropped()
            busy = asyncio.ensure_future(stub.Embed(embedder_pb2.EmbedRequest(texts=long_texts), timeout=120))
            await asyncio.sleep(0.05)
            # Callers that stop waiting while the model is busy: their texts are never encoded.
            impatient = [
                stub.Embed(embedder_pb2.EmbedRequest(texts=[f"question {i}", "another"]), timeout=0.05)
                for i in range(10)
            ]
            outcomes = await asyncio.gather(*impatient, return_exceptions=True)
            assert all(
                isinstance(o, grpc.aio.AioRpcError) and o.code() == grpc.StatusCode.DEADLINE_EXCEEDED for o in outcomes
            )
            # Past the queue's bound a call is refused at once, not queued behind minutes of work.
            crowd = [stub.Embed(embedder_pb2.EmbedRequest(texts=long_texts), timeout=120) for _ in range(3)]
            results = await asyncio.gather(*crowd, return_exceptions=True)
            refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
            assert refused and all(r.code() == grpc.StatusCode.UNAVAILABLE for r in refused)
            assert "queued" in refused[0].details()
            assert len((await busy).vectors) == 256
            # Once the model came round to them, the impatient callers' 20 texts were dropped unencoded.
            await stub.Embed(embedder_pb2.EmbedRequest(texts=["after"]), timeout=60)
            assert _dropped() - before == 20


async def test_the_embedding_cache_encodes_each_text_once_for_every_caller_and_survives_redis_going_away(redis_url):
    settings = EmbedderSettings(redis_url=redis_url)
    texts = [f"the Tern ferry leaves Harl at 07:{i:02d}" for i in range(5)]
    hits = CACHE_HITS.labels("embedding")
    async with running(create_server(settings)) as target, grpc.aio.insecure_channel(target) as channel:
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        first = await stub.Embed(embedder_pb2.EmbedRequest(texts=texts, kind=embedder_pb2.INPUT_KIND_DOCUMENT))
        before = hits._value.get()
        # The same texts (spacing aside), from another caller: all five from the cache, the same vectors.
        spaced = [text.replace(" ", "  ") for text in texts]
        again = await stub.Embed(embedder_pb2.EmbedRequest(texts=spaced, kind=embedder_pb2.INPUT_KIND_DOCUMENT))
        assert hits._value.get() - before == 5
        assert [list(v.values) for v in again.vectors] == [list(v.values) for v in first.vectors]
        # A query of the same words is cached apart (query and document encodings may differ by model).
        await stub.Embed(embedder_pb2.EmbedRequest(texts=texts[:1], kind=embedder_pb2.INPUT_KIND_QUERY))
        assert hits._value.get() - before == 5
    # With a Redis that is not there, the model encodes: never an error.
    gone = f"redis://127.0.0.1:{free_port()}/0"
    async with running(create_server(EmbedderSettings(redis_url=gone))) as target:
        async with grpc.aio.insecure_channel(target) as channel:
            reply = await embedder_pb2_grpc.EmbedderServiceStub(channel).Embed(embedder_pb2.EmbedRequest(texts=texts))
            assert len(reply.vectors) == 5
