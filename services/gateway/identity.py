"""Who is calling: the identity a request's credential proves (an API key or a verified JWT), and nothing else.

The tenant, user and groups come only from here, never from a request body; the query path and every route
take a `Principal` and read the tenant from it.
"""

from dataclasses import dataclass, field

from ragmesh.retriever.v1 import retriever_pb2
from services.runtime.access import Viewer

# What a credential may do. `admin` covers the others and the admin API.
SCOPES = ("query", "ingest", "admin")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the tenant it acts in, the user and groups it speaks for, what it may do."""

    tenant: str
    user: str = ""
    groups: tuple[str, ...] = ()
    scopes: frozenset[str] = field(default_factory=lambda: frozenset(SCOPES))
    # How it was proven: "bootstrap-key", "api-key" or "jwt"; and the key's id for stored keys (audit, usage).
    via: str = ""
    key_id: str = ""
    # The key's own rate-limit tiers by bucket, when it has any (else the gateway's defaults apply).
    rate_limits: dict[str, list[str]] | None = field(default=None, hash=False, compare=False)
    # The key's request-bounds tier (tiers.py); "": the gateway's default tier.
    tier: str = ""

    @property
    def spender(self) -> str:
        """The caller as rate limits and budgets count it: a stored key, or a JWT's user; "" for a bootstrap key
        from configuration (the operators', exempt from per-caller limits)."""
        if self.key_id:
            return f"key:{self.key_id}"
        return f"user:{self.user}" if self.via == "jwt" else ""

    @property
    def who(self) -> str:
        """The caller inside its tenant, as the tenant's own records name whoever labelled, trained or created
        something: the user, else the spender, else "admin" (a bootstrap key). The audit log's `audit.actor` adds
        the tenant, since it is read across tenants."""
        return self.user or self.spender or "admin"

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    @property
    def viewer(self) -> Viewer:
        """What this caller may read inside its tenant: everything with the admin scope, else what is open to the
        tenant, to its user, or to one of its groups."""
        return Viewer(everything="admin" in self.scopes, user=self.user, groups=self.groups)

    def viewer_message(self) -> retriever_pb2.Viewer:
        viewer = self.viewer
        return retriever_pb2.Viewer(everything=viewer.everything, user=viewer.user, groups=list(viewer.groups))
