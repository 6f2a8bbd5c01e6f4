"""The gateway's tables."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text
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
