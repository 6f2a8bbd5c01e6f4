"""The administrators' and operators' bodies: API keys, the audit log, usage reports, cache entries and
dependency status (the query and document bodies are in models.py)."""

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from services.gateway.models import Body


class CreateKeyRequest(Body):
    """A new API key for the caller's tenant."""

    name: str = Field(min_length=1, max_length=200, description="What the key is for.")
    scopes: list[Literal["query", "ingest", "admin"]] = Field(
        default_factory=lambda: ["query"], min_length=1, description="What the key may do."
    )
    expires_at: AwareDatetime | None = Field(default=None, description="When the key stops working.")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="Or: days from now.")
    user: str = Field(default="", max_length=200, description="The user the key acts as (document permissions).")
    groups: list[str] = Field(default_factory=list, max_length=100, description="Groups the key's user is in.")
    rate_limits: dict[Literal["answer", "search", "ingest"], list[str]] | None = Field(
        default=None,
        description='The key\'s own rate-limit tiers by bucket, e.g. {"answer": ["100/minute", "5000/day"]}; '
        "default: the gateway's.",
    )
    tier: str = Field(
        default="",
        max_length=64,
        description="The key's request-bounds tier (top_k, context, answer length, LLM options); default: the "
        "gateway's default tier.",
    )


class KeyInfo(BaseModel):
    """An API key's record: never its secret."""

    id: str
    prefix: str = Field(description="The visible start of the key.")
    tenant: str
    name: str
    scopes: list[str]
    user: str
    groups: list[str]
    rate_limits: dict[str, list[str]] | None = None
    tier: str = ""
    created_at: str
    created_by: str
    expires_at: str | None
    revoked_at: str | None


class CreatedKey(KeyInfo):
    key: str = Field(description="The key itself: shown this once, stored only as a hash.")


class KeyList(BaseModel):
    keys: list[KeyInfo]


class AuditEntry(BaseModel):
    at: str
    actor: str = Field(description="tenant/user (or key) of the credential that acted.")
    action: str
    detail: str


class AuditList(BaseModel):
    events: list[AuditEntry]


class UsageTotals(BaseModel):
    """Sums over requests in a period, from the usage ledger."""

    requests: int = 0
    cached: int = Field(default=0, description="Requests answered from the answer cache (no model call).")
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class RouteUsage(UsageTotals):
    route: str


class BudgetStanding(BaseModel):
    """A daily budget in scope for the caller: its limit, what today's calls spent (or hold reserved), the rest."""

    scope: Literal["caller", "tenant", "suite"]
    limit_usd: float
    spent_usd: float
    remaining_usd: float
    resets_at: str = Field(description="When the day's budget starts again (00:00 UTC).")


class RateLimitStanding(BaseModel):
    bucket: Literal["answer", "search", "ingest"]
    scope: Literal["caller", "tenant", "suite"]
    limit: str = Field(examples=["10 per 1 minute"])
    remaining: int
    reset_seconds: int


class UsageReport(BaseModel):
    """The caller's own use of the suite over a period, its limits and what is left of them."""

    tenant: str
    spender: str = Field(description="Who budgets and limits count: key:<id> or user:<name>; empty for bootstrap keys.")
    since: str
    until: str
    total: UsageTotals
    by_route: list[RouteUsage]
    budgets: list[BudgetStanding]
    rate_limits: list[RateLimitStanding]
    tier: str = Field(description="The request-bounds tier of the credential; empty: unbounded (bootstrap key).")
    tier_bounds: dict[str, object]


class TenantUsage(UsageTotals):
    tenant: str


class SpenderUsage(UsageTotals):
    tenant: str
    spender: str


class AdminUsageReport(BaseModel):
    """Use of the suite per tenant, and the top spenders, over a period."""

    since: str
    until: str
    tenants: list[TenantUsage]
    top_spenders: list[SpenderUsage]


class DependencyStatus(BaseModel):
    """What this gateway replica sees of its dependencies."""

    dependencies: dict[str, str] = Field(description='"serving", or why not, by dependency.')
    breakers: dict[str, Literal["closed", "half-open", "open"]] = Field(
        description="The circuit breaker of each downstream service."
    )


class CacheEntries(BaseModel):
    """Entries per cache layer (held, or just dropped)."""

    tenant: str = Field(description='The tenant meant, or "*" for every tenant.')
    entries: dict[str, int]


class QuarantineEntry(BaseModel):
    id: int
    at: str
    filename: str
    content_type: str
    size_bytes: int
    reason: str = Field(description="Why it was refused or held.")
    kind: Literal["refused", "held"] = Field(
        description="refused: never indexable as sent; held: it reads like a prompt injection and waits for a decision."
    )
    document_id: str


class QuarantineList(BaseModel):
    entries: list[QuarantineEntry]


class IngestAuditEntry(BaseModel):
    id: int
    at: str
    document_id: str
    action: str = Field(
        description="created, updated, deleted, access-changed, schema, duplicate-not-indexed, ingest-discarded, held, "
        "released, quarantine-deleted, raw-read"
    )
    actor: str
    detail: dict[str, Any]


class IngestAuditList(BaseModel):
    entries: list[IngestAuditEntry]
    next_after: int = Field(description="Pass as `after` for the next page (0 when this one was empty).")
