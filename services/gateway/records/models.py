"""The gateway's tables."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.records.database import UtcDateTime


class Base(DeclarativeBase):
    """Every gateway table; Alembic compares against this metadata."""


class ApiKey(Base):
    """An API key, stored only as a hash: the short prefix finds it, the hash proves it."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The visible start of the key ("rmk_1a2b3c4d"): shown in listings, used to find the row.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    # sha256 of the whole key, hex. Keys are 256 random bits, so a slow password hash would add nothing.
    key_hash: Mapped[str] = mapped_column(String(64))
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    # The user the key acts as (documents restricted to users); empty: the tenant's service identity.
    user: Mapped[str] = mapped_column(String(200), default="")
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Rate-limit tiers of this key by bucket ({"answer": ["100/minute"]}); null: the gateway's defaults.
    rate_limits: Mapped[dict[str, list[str]] | None] = mapped_column(JSON, nullable=True)
    # The request-bounds tier of this key (top_k, context, answer length, LLM options); empty: the default tier.
    tier: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(200), default="")
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class AuditEvent(Base):
    """Something an administrator did, or a request made on another tenant's behalf."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_tenant_at", "tenant", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The tenant acted upon, and who acted (tenant/user/key of the credential).
    tenant: Mapped[str] = mapped_column(String(128))
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="")


class UsageRecord(Base):
    """One request that used the suite: who made it, which route, and what its model calls cost (the ledger)."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_tenant_at", "tenant", "at"),
        Index("ix_usage_records_tenant_spender_at", "tenant", "spender", "at"),
        Index("ix_usage_records_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    tenant: Mapped[str] = mapped_column(String(128))
    # Who is charged (as budgets count it: "key:<id>" or "user:<name>"; "" for the operators' bootstrap keys).
    spender: Mapped[str] = mapped_column(String(300), default="")
    route: Mapped[str] = mapped_column(String(32))
    # Answered from the answer cache: no model call.
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    model_calls: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    # Exact sums: micro-dollars, as the budgets count them.
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0)


class Interaction(Base):
    """One answer (query, search or verify) and what produced it: the learning loop's record (learning/)."""

    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_tenant_at", "tenant", "at"),
        Index("ix_interactions_tenant_review", "tenant", "needs_review", "reviewed_at"),
        Index("ix_interactions_tenant_adapter", "tenant", "adapter"),
    )

    # The answer_id the response carried.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    tenant: Mapped[str] = mapped_column(String(128))
    # A keyed hash of the asker (learning/interactions.py pseudonym), never the name.
    user: Mapped[str] = mapped_column(String(64))
    route: Mapped[str] = mapped_column(String(16))
    # Null for tenants that keep only the hash.
    question: Mapped[str | None] = mapped_column(Text, nullable=True)
    question_hash: Mapped[str] = mapped_column(String(64))
    filters: Mapped[dict] = mapped_column(JSON)
    # [{index, document_id, chunk_index, score, cited}], numbered as the response numbered them.
    passages: Mapped[list] = mapped_column(JSON)
    answer: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    no_context: Mapped[bool] = mapped_column(Boolean)
    is_confused: Mapped[bool] = mapped_column(Boolean)
    degraded: Mapped[bool] = mapped_column(Boolean)
    # "", "exact" or "semantic": served from a cache.
    cached: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(64))
    variant: Mapped[str] = mapped_column(String(64))
    steering: Mapped[dict] = mapped_column(JSON)
    # The adapter version that answered (0: none), for each version's online figures.
    adapter: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    timings_ms: Mapped[dict] = mapped_column(JSON)
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger)
    # In the review queue (low confidence, confused, negative feedback, or labelled), and when it was labelled.
    needs_review: Mapped[bool] = mapped_column(Boolean)
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Feedback(Base):
    """What an asker (or an administrator) said of an answer."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_answer_id", "answer_id"), Index("ix_feedback_tenant_at", "tenant", "at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    answer_id: Mapped[str] = mapped_column(String(40))
    tenant: Mapped[str] = mapped_column(String(128))
    user: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    # 1 up, -1 down, null none.
    thumb: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    rating: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    comment: Mapped[str] = mapped_column(Text)
    # Citation numbers judged relevant and not.
    relevant: Mapped[list] = mapped_column(JSON)
    not_relevant: Mapped[list] = mapped_column(JSON)


class Label(Base):
    """A reviewer's verified label of an answer: what training learns from."""

    __tablename__ = "labels"
    __table_args__ = (Index("ix_labels_tenant_at", "tenant", "at"),)

    answer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    reviewer: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # [{document_id, chunk_index}] that answer the question.
    relevant: Mapped[list] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text)


class DialRecord(Base):
    """A tenant's dial: a unit direction in the embedding space, learned from contrastive pairs."""

    __tablename__ = "dials"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    dimension: Mapped[int] = mapped_column(Integer)
    # float32, `dimension` of them.
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    pairs: Mapped[int] = mapped_column(Integer)
    held_out_pairs: Mapped[int] = mapped_column(Integer)
    held_out_accuracy: Mapped[float] = mapped_column(Float)
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(300))


class UserVector(Base):
    """What one user's feedback taught: the sums of the vectors of passages they liked and disliked (so that each
    judgement updates it in place). Never read for anyone else."""

    __tablename__ = "user_vectors"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    # The pseudonym, as in interactions.
    user: Mapped[str] = mapped_column(String(64), primary_key=True)
    liked_sum: Mapped[bytes] = mapped_column(LargeBinary)
    disliked_sum: Mapped[bytes] = mapped_column(LargeBinary)
    liked: Mapped[int] = mapped_column(Integer)
    disliked: Mapped[int] = mapped_column(Integer)
    # Grows with every update: caches tell revisions apart.
    revision: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AdapterRecord(Base):
    """A version of a tenant's query-side adapter (learning/adapter.py): what it learned from, how it did at the
    gate, and whether it is served (to everyone, or to a canary share of users)."""

    __tablename__ = "adapters"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    # training, failed, rejected (the gate aborted), ready, canary, serving, retired.
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[str] = mapped_column(String(200))
    # float32 dimension x dimension; empty until trained.
    matrix: Mapped[bytes] = mapped_column(LargeBinary)
    dimension: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(200))
    # The data snapshot: the labelled answers each split took (answer ids), and its digest.
    splits: Mapped[dict] = mapped_column(JSON)
    snapshot: Mapped[str] = mapped_column(String(64))
    # Gate: per evaluation set, nDCG@10 served and candidate; the reasons it aborted, if it did.
    scores: Mapped[dict] = mapped_column(JSON)
    reasons: Mapped[list] = mapped_column(JSON)
    # The share of users a canary is served to (sticky per user).
    share: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(300))
    served_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The key prefix of its artifact in the object store (learning/artifacts.py); empty until stored.
    artifact: Mapped[str] = mapped_column(String(400), default="", server_default="")


class PromptVersion(Base):
    """A version of a tenant's instruction for one role (learning/prompts.py): served to everyone, or to a sticky
    canary share of users beside the one served to everyone (or beside the built-in instruction)."""

    __tablename__ = "prompt_versions"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[int] = mapped_column(Integer)
    instruction: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(String(500))
    # draft, canary, serving, retired.
    status: Mapped[str] = mapped_column(String(16))
    share: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(300))
    served_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
