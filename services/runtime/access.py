"""Who may see a document inside its tenant, shared by the ingest service (catalogue reads) and the retriever
(chunk payloads and search filters), so both answer the same question the same way."""

from dataclasses import dataclass

# Who may see a chunk inside its tenant, as one keyword list: "*" for the whole tenant, else "u:<user>" and
# "g:<group>" entries. A search matches any of the reader's own entries, so one indexed condition does it.
ACCESS_FIELD = "access"
EVERYONE = "*"


def access_entries(users: list[str], groups: list[str]) -> list[str]:
    """A chunk's access list: the whole tenant when no user or group is named."""
    entries = [f"u:{u}" for u in sorted(set(users))] + [f"g:{g}" for g in sorted(set(groups))]
    return entries or [EVERYONE]


def split_access(entries: list[str]) -> tuple[list[str], list[str]]:
    """Back from the access list to (allowed_users, allowed_groups)."""
    return [e[2:] for e in entries if e.startswith("u:")], [e[2:] for e in entries if e.startswith("g:")]


@dataclass(frozen=True)
class Viewer:
    """Who reads: the tenant's administrators see everything; anyone else, what is open to the whole tenant,
    to them, or to one of their groups."""

    everything: bool = False
    user: str = ""
    groups: tuple[str, ...] = ()

    def entries(self) -> list[str] | None:
        """The access entries that let this reader in; None: no restriction."""
        if self.everything:
            return None
        return [EVERYONE, *([f"u:{self.user}"] if self.user else []), *(f"g:{g}" for g in self.groups)]

    def can_see(self, allowed_users: list[str], allowed_groups: list[str]) -> bool:
        """Whether this reader may see something open to these users and groups (both empty: everyone)."""
        if self.everything or (not allowed_users and not allowed_groups):
            return True
        return (bool(self.user) and self.user in allowed_users) or bool(set(self.groups) & set(allowed_groups))
