"""The ingest service's tables."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.records.database import UtcDateTime

# An id column that is 64-bit on PostgreSQL and SQLite's own rowid there (SQLite autoincrements INTEGER only).
_BIG_ID = BigInteger().with_variant(Integer, "sqlite")
TENANT = String(128)
DOCUMENT_ID = String(128)


class Base(DeclarativeBase):
    """Every ingest table; Alembic compares against this metadata."""


class Document(Base):
    """A document's current revision: what was indexed, from what, for whom."""

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_tenant_hash", "tenant", "content_hash"),)

    tenant: Mapped[str] = mapped_column(TENANT, primary_key=True)
    document_id: Mapped[str] = mapped_column(DOCUMENT_ID, primary_key=True)
    filename: Mapped[str] = mapped_column(String(512))
    content_type: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(512))
    source: Mapped[str] = mapped_column(String(2048))
    tags: Mapped[list[str]] = mapped_column(JSON)
    licence: Mapped[str] = mapped_column(String(512))
    chunk_count: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # sha256 of the extracted text, and the revision whose chunks the index holds.
    content_hash: Mapped[str] = mapped_column(String(64))
    revision: Mapped[str] = mapped_column(String(32))
    attributes: Mapped[dict[str, object]] = mapped_column(JSON)
    # Who may see it inside the tenant (both empty: everyone); document_readers holds the same, indexed.
    allowed_users: Mapped[list[str]] = mapped_column(JSON)
    allowed_groups: Mapped[list[str]] = mapped_column(JSON)
    # What its licence allows it to be used for, as its owner declared (none declared: empty).
    allowed_uses: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DocumentReader(Base):
    """One access entry of a document, as the retriever's chunks carry them (services/runtime/access.py): "*" for
    the whole tenant, "u:<user>" or "g:<group>" for a restricted one; a reader sees the documents holding one of
    their own entries."""

    __tablename__ = "document_readers"
    __table_args__ = (Index("ix_document_readers_entry", "tenant", "entry"),)

    tenant: Mapped[str] = mapped_column(TENANT, primary_key=True)
    document_id: Mapped[str] = mapped_column(DOCUMENT_ID, primary_key=True)
    entry: Mapped[str] = mapped_column(String(210), primary_key=True)


class DocumentAttribute(Base):
    """One value a document carries for a declared metadata field (a keyword list gives one row per value)."""

    __tablename__ = "document_attributes"
    __table_args__ = (Index("ix_document_attributes_value", "tenant", "name", "value"),)

    tenant: Mapped[str] = mapped_column(TENANT, primary_key=True)
    document_id: Mapped[str] = mapped_column(DOCUMENT_ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256), primary_key=True)


class MetadataSchema(Base):
    """A tenant's declared metadata fields."""

    __tablename__ = "metadata_schemas"

    tenant: Mapped[str] = mapped_column(TENANT, primary_key=True)
    fields: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuditEntry(Base):
    """Append-only: every change to a tenant's documents, permissions or schema, and every read of a raw artifact.
    A tenant's newest entry id is its corpus version."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_tenant_id", "tenant", "id"), Index("ix_audit_entries_at", "at"))

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    tenant: Mapped[str] = mapped_column(TENANT)
    document_id: Mapped[str] = mapped_column(DOCUMENT_ID)
    action: Mapped[str] = mapped_column(String(64))
    # Who asked ("tenant/user" of the caller, or "ingest" for the service's own work).
    actor: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[dict[str, object]] = mapped_column(JSON)


class Signature(Base):
    """A document's MinHash signature (near-duplicate detection)."""

    __tablename__ = "signatures"

    tenant: Mapped[str] = mapped_column(TENANT, primary_key=True)
    document_id: Mapped[str] = mapped_column(DOCUMENT_ID, primary_key=True)
    minhash: Mapped[bytes] = mapped_column(LargeBinary)


class SignatureBand(Base):
    """One LSH band of a signature: documents sharing a band are candidates for a closer look."""

    __tablename__ = "signature_bands"
    __table_args__ = (Index("ix_signature_bands_document", "tenant", "document_id"),)

    tenant: Mapped[str] = mapped_column(TENANT, primary_key=True)
    band: Mapped[str] = mapped_column(String(64), primary_key=True)
    document_id: Mapped[str] = mapped_column(DOCUMENT_ID, primary_key=True)


class QuarantineEntry(Base):
    """A document refused (unreadable, over a limit) or held back (it looks like a prompt injection)."""

    __tablename__ = "quarantine_entries"
    __table_args__ = (Index("ix_quarantine_entries_tenant_id", "tenant", "id"), Index("ix_quarantine_at", "at"))

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    tenant: Mapped[str] = mapped_column(TENANT)
    filename: Mapped[str] = mapped_column(String(512))
    content_type: Mapped[str] = mapped_column(String(128))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    # "refused" (never indexable as sent) or "held" (kept with its raw artifact until an admin releases or deletes).
    kind: Mapped[str] = mapped_column(String(16), default="refused")
    document_id: Mapped[str] = mapped_column(DOCUMENT_ID, default="")
    # A held document's raw artifact and what it was sent with, so that a release ingests it as sent.
    artifact_key: Mapped[str] = mapped_column(String(512), default="")
    request: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class DocumentWrite(Base):
    """A revision being written, and the lease of the replica writing it: one writer per document across every
    replica (a unique row, not an in-process lock), and a record of what a crashed writer may have left in the
    index. The row goes once the new revision is live and the old one's chunks are gone."""

    __tablename__ = "document_writes"

    tenant: Mapped[str] = mapped_column(TENANT, primary_key=True)
    document_id: Mapped[str] = mapped_column(DOCUMENT_ID, primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    # The revision whose chunks are being written ("" until known), and whether the catalogue now names it.
    revision: Mapped[str] = mapped_column(String(32), default="")
    committed: Mapped[bool] = mapped_column(Boolean, default=False)


class Job(Base):
    """A batch of documents submitted together; its items carry the state."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_tenant_created", "tenant", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(TENANT)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(300), default="")
    total: Mapped[int] = mapped_column(Integer)


class JobItem(Base):
    """One document of a job: acknowledged once this row and its raw artifact exist; a worker leases it, and
    another takes it over when the lease runs out."""

    __tablename__ = "job_items"
    __table_args__ = (
        Index("ix_job_items_job", "job_id", "position"),
        Index("ix_job_items_claim", "state", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    tenant: Mapped[str] = mapped_column(TENANT)
    # The upload's name or the URL, and where its bytes wait in the artifact store ("" for a URL not yet fetched).
    name: Mapped[str] = mapped_column(String(2048))
    artifact_key: Mapped[str] = mapped_column(String(512), default="")
    # What the document was sent with (metadata, access, document id), as the single-document request carries it.
    request: Mapped[dict[str, object]] = mapped_column(JSON)
    # queued, extracting, embedding, indexed, unchanged, duplicate, quarantined, failed.
    state: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str] = mapped_column(Text, default="")
    document_id: Mapped[str] = mapped_column(DOCUMENT_ID, default="")
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    duplicate_of: Mapped[str] = mapped_column(DOCUMENT_ID, default="")
    similarity: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_holder: Mapped[str] = mapped_column(String(128), default="")
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # When it may next be tried (a wait for the embedder or vector store backs off).
    not_before: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Source(Base):
    """A URL a tenant ingests from: the validators of its last fetch (a recrawl asks only for a changed page), the
    document it became, and when it is next due."""

    __tablename__ = "sources"
    __table_args__ = (Index("ix_sources_due", "next_due_at"),)

    tenant: Mapped[str] = mapped_column(TENANT, primary_key=True)
    # sha256 of the URL (URLs are too long for a portable key).
    url_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    document_id: Mapped[str] = mapped_column(DOCUMENT_ID)
    etag: Mapped[str] = mapped_column(String(512), default="")
    last_modified: Mapped[str] = mapped_column(String(64), default="")
    # What it was first sent with (metadata, access), for the recrawls.
    request: Mapped[dict[str, object]] = mapped_column(JSON)
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime())
    next_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
