"""Ingest settings (env prefix RAGMESH_INGEST_)."""

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr
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
    # Raw artifacts (services/records/objects.py): empty keeps them in data_dir; s3://bucket/prefix in any
    # S3-compatible store (the endpoint for MinIO and the like; keys, or boto3's usual chain when empty), with the
    # bucket's object versioning switched on at start.
    object_store_url: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    object_versioning: bool = True
    # Batch jobs (services/ingest/worker.py): workers per replica, how long a worker's claim on a document lasts
    # unrenewed (then another worker takes it over), how often an idle worker looks for work, how many tries a
    # document gets when something unexpected fails, the back-off while the embedder or vector store is down
    # (doubling from the first to the most, with jitter), and how long finished jobs are kept (days; 0: forever).
    job_workers: int = 2
    job_lease_seconds: float = 60.0
    job_poll_seconds: float = 0.5
    job_max_attempts: int = 5
    job_retry_first_seconds: float = 1.0
    job_retry_most_seconds: float = 60.0
    job_retention_days: float = 30.0
    # URL sources (services/ingest/fetch.py): per-request timeout, tries and back-off (exponential with jitter) on
    # network errors, 429 and 5xx, requests per second to one host (robots.txt's Crawl-delay may ask for fewer), how
    # long a host's robots.txt is trusted, URL prefixes never fetched, and how often each source is fetched again
    # (a conditional request: an unchanged page costs a 304; hours, 0: never).
    fetch_timeout_seconds: float = 30.0
    fetch_attempts: int = 4
    fetch_retry_first_seconds: float = 1.0
    fetch_retry_most_seconds: float = 30.0
    fetch_per_host_per_second: float = 1.0
    robots_cache_seconds: float = 3600.0
    excluded_url_prefixes: list[str] = Field(default_factory=list)
    recrawl_hours: float = 24.0
    recrawl_check_seconds: float = 60.0
    # Licences refused at ingest (compared case-insensitively with a document's licence, e.g. ["CC-BY-ND-4.0"]), and
    # whether a page that opts out of AI use (<meta name="robots" content="noai">) is refused.
    excluded_licences: list[str] = Field(default_factory=list)
    # Uses a document's declared allowed uses must include (e.g. ["rag"]); a document that declares none is taken.
    required_uses: list[str] = Field(default_factory=list)
    honour_noai: bool = True
    # The suite's Redis, where every committed change to a tenant's corpus is announced (services/ingest/
    # announcements.py) so that gateways keep corpus versions in memory; empty: no announcements (gateways then
    # ask for the version with every question).
    redis_url: str = ""
    redis_password: SecretStr | None = None
    redis_timeout_seconds: float = 0.5
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
    # Hold documents that read like a prompt injection (services/ingest/injection.py) in quarantine, out of answers,
    # until an administrator releases them.
    injection_check: bool = True
    # How long quarantine and audit entries are kept, in days (0: forever); pruned at start and daily.
    quarantine_retention_days: float = 90.0
    audit_retention_days: float = 0.0
    # Largest chunk, in characters (about 200 model tokens for all-MiniLM-L6-v2's 256-token window).
    chunk_max_chars: int = 800
    # Embed every chunk's sentences too and store their vectors with the chunk, so that the gateway's compression
    # scores sentences without embedding them for each question (about twice the embedding work at ingest).
    sentence_vectors: bool = True
    # Texts per Embed call and chunks per Upsert call.
    embed_batch: int = 64
    upsert_batch: int = 256
    # Deadline for each call to the embedder or retriever.
    call_timeout_seconds: float = 120.0
