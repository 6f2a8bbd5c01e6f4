"""Retriever settings (env prefix RAGMESH_RETRIEVER_)."""

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class RetrieverSettings(ServiceSettings):
    """Which Qdrant engine holds the index, and how searches are shaped."""

    model_config = SettingsConfigDict(env_prefix="RAGMESH_RETRIEVER_", extra="ignore")
    service_name: ClassVar[str] = "retriever"

    # "edge": qdrant-edge, Qdrant's engine in process, on disk under data_dir (the embedded default).
    # "qdrant": a Qdrant server or cluster at qdrant_url through qdrant-client; with qdrant_url empty,
    # qdrant-client's local mode under data_dir (the same code path, for tests).
    backend: Literal["edge", "qdrant"] = "edge"
    data_dir: Path = Path(".ragmesh/retriever")
    qdrant_url: str = ""
    # API key of the Qdrant server; best given as the file ragmesh_retriever_qdrant_api_key in RAGMESH_SECRETS_DIR.
    qdrant_api_key: SecretStr | None = None
    collection: str = "ragmesh_chunks"
    # Must match the embedder's model (all-MiniLM-L6-v2: 384).
    dense_dimension: int = 384
    # Candidates each side of a hybrid search contributes to the fusion, as a multiple of top_k.
    prefetch_factor: int = 4
    # Reciprocal rank fusion constant.
    rrf_k: int = 60
    max_top_k: int = 100
    # How long a replica keeps a tenant's BM25 document frequencies (a write through it drops them at once).
    idf_cache_seconds: float = 30.0
