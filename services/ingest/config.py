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
    # The catalogue, quarantine, audit log, jobs and write leases: a SQLAlchemy URL, postgresql://user@host/db
    # wherever more than one replica runs (they share it); empty: a SQLite file in data_dir (one machine).
    database_url: str = ""
    database_pool_size: int = 10
    # One writer per document across replicas: a writer renews its lease every third of this; a lease that runs
    # out (the writer died) is taken over and what it left in the index removed. How long a request waits for
    # another one writing the same document before it is told to try again.
    write_lease_seconds: float = 30.0
    write_wait_seconds: float = 60.0
    embedder_target: str = "127.0.0.1:50051"
    retriever_target: str = "127.0.0.1:50052"
    max_document_bytes: int = 20 * 1024 * 1024
    # Extraction runs in worker processes (services/ingest/sandbox.py): how many, how long one document may take,
    # how much memory a worker may use; and how many pages and characters of text a document may have.
    extract_workers: int = 2
    extract_timeout_seconds: float = 30.0
    extract_memory_mb: int = 1024
    max_pages: int = 2_000
    max_extracted_chars: int = 5_000_000
    # A document whose text is at least this similar (MinHash estimate of the Jaccard similarity of word 5-shingles)
    # to one the tenant already has, for the same readers, is recorded against it and not indexed; 0: only exact
    # copies are.
    near_duplicate_threshold: float = 0.9
    # How long quarantine and audit entries are kept, in days (0: forever); pruned at start and daily.
    quarantine_retention_days: float = 90.0
    audit_retention_days: float = 0.0
    # Largest chunk, in characters (about 200 model tokens for all-MiniLM-L6-v2's 256-token window).
    chunk_max_chars: int = 800
    # Texts per Embed call and chunks per Upsert call.
    embed_batch: int = 64
    upsert_batch: int = 256
    # Deadline for each call to the embedder or retriever.
    call_timeout_seconds: float = 120.0
