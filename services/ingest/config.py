"""Ingest settings (env prefix RAGMESH_INGEST_)."""

from pathlib import Path
from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    """Where documents are kept, the services ingest calls, and the limits it enforces."""

    model_config = SettingsConfigDict(env_prefix="RAGMESH_INGEST_", extra="ignore")
    service_name: ClassVar[str] = "ingest"

    data_dir: Path = Path(".ragmesh/ingest")
    embedder_target: str = "127.0.0.1:50051"
    retriever_target: str = "127.0.0.1:50052"
    max_document_bytes: int = 20 * 1024 * 1024
    # Largest chunk, in characters (about 200 model tokens for all-MiniLM-L6-v2's 256-token window).
    chunk_max_chars: int = 800
    # Texts per Embed call and chunks per Upsert call.
    embed_batch: int = 64
    upsert_batch: int = 256
    # Deadline for each call to the embedder or retriever.
    call_timeout_seconds: float = 120.0
