"""What an ingest request may carry: its shape, its bounds, and the ids derived from it."""

import hashlib
import re
from dataclasses import dataclass, field

from services.runtime.errors import InvalidArgument

_DOCUMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
MAX_TAGS = 32
MAX_FIELD_CHARS = 512
MAX_ACCESS_NAMES = 100
MAX_NAME_CHARS = 200


@dataclass
class IngestInput:
    tenant: str
    filename: str
    content_type: str
    content: bytes
    title: str = ""
    source: str = ""
    tags: list[str] = field(default_factory=list)
    licence: str = ""
    document_id: str = ""
    attributes: dict[str, object] = field(default_factory=dict)
    allowed_users: list[str] = field(default_factory=list)
    allowed_groups: list[str] = field(default_factory=list)
    # What its licence allows it to be used for (e.g. "rag", "search", "training").
    allowed_uses: list[str] = field(default_factory=list)
    # An administrator released it from quarantine: the prompt-injection check does not hold it again.
    released: bool = False
    # Who sent it ("tenant/user"), for the audit log.
    actor: str = ""

    def request(self) -> dict[str, object]:
        """What it was sent with, less its bytes (kept with a held document, to ingest it as sent on release)."""
        fields = dict(self.__dict__)
        fields.pop("content")
        fields.pop("released")
        return fields


@dataclass
class IngestResult:
    document_id: str
    chunk_count: int
    status: str  # "created", "updated", "unchanged", "duplicate" or "held"
    # With "duplicate": the document already indexed, and the estimated Jaccard similarity (1.0: the same text).
    duplicate_of: str = ""
    similarity: float = 0.0
    # With "held": why.
    reason: str = ""


def validate_input(item: IngestInput, max_bytes: int) -> None:
    """InvalidArgument, saying what is wrong, for a request outside the bounds."""
    if not item.tenant:
        raise InvalidArgument("tenant is required")
    if not item.content:
        raise InvalidArgument("the document is empty (0 bytes)", reason="unprocessable")
    if len(item.content) > max_bytes:
        raise InvalidArgument(
            f"the document is {len(item.content)} bytes; the limit is {max_bytes}", reason="too_large"
        )
    # fullmatch: `$` would let a trailing newline through ("abc\n").
    if item.document_id and not _DOCUMENT_ID.fullmatch(item.document_id):
        raise InvalidArgument("document_id must be 1-128 characters of letters, digits, '.', '_', ':' or '-'")
    if len(item.tags) > MAX_TAGS:
        raise InvalidArgument(f"{len(item.tags)} tags; the limit is {MAX_TAGS}")
    for name in ("filename", "title", "source", "licence"):
        if len(getattr(item, name)) > MAX_FIELD_CHARS:
            raise InvalidArgument(f"{name} is longer than {MAX_FIELD_CHARS} characters")
    if any(not tag.strip() or len(tag) > 64 for tag in item.tags):
        raise InvalidArgument("tags must be non-empty and at most 64 characters")
    if len(item.allowed_uses) > MAX_TAGS or any(not use.strip() or len(use) > 64 for use in item.allowed_uses):
        raise InvalidArgument(f"allowed_uses: at most {MAX_TAGS}, each 1 to 64 characters")


# A page that opts out of AI use: <meta name="robots" content="noai"> (or "noai, noimageai", or name="ai").
_NOAI = re.compile(rb"<meta[^>]+name=[\"']?(robots|ai|ragmesh)[\"']?[^>]+content=[\"'][^\"']*\bnoai\b", re.IGNORECASE)


def check_governance(
    item: IngestInput, excluded_licences: list[str], honour_noai: bool, required_uses: list[str] = ()
) -> None:
    """InvalidArgument (reason "excluded") for a licence on the exclusion list, declared uses that leave out one this
    service requires, or a page that opts out of AI use."""
    declared = {use.strip().lower() for use in item.allowed_uses}
    missing = sorted({use.lower() for use in required_uses} - declared) if declared else []
    if missing:
        raise InvalidArgument(
            f"the document's allowed uses ({', '.join(sorted(declared))}) do not include {', '.join(missing)}",
            reason="excluded",
        )
    licence = item.licence.strip().lower()
    if licence and licence in {excluded.strip().lower() for excluded in excluded_licences}:
        raise InvalidArgument(f"the licence {item.licence!r} is on the exclusion list", reason="excluded")
    if honour_noai and _NOAI.search(item.content[:65536]):
        raise InvalidArgument("the document opts out of AI use (a robots meta tag says noai)", reason="excluded")


def derived_document_id(tenant: str, content_hash: str) -> str:
    """The id of a document sent without one: the same content in the same tenant gets the same id."""
    return "doc_" + hashlib.sha256(f"{tenant}\x1f{content_hash}".encode()).hexdigest()[:24]


def access_names(users: list[str], groups: list[str]) -> tuple[list[str], list[str]]:
    """Allowed users and groups, de-duplicated and sorted; InvalidArgument for empty, long or too many names."""
    cleaned = sorted({u.strip() for u in users}), sorted({g.strip() for g in groups})
    if len(cleaned[0]) > MAX_ACCESS_NAMES or len(cleaned[1]) > MAX_ACCESS_NAMES:
        raise InvalidArgument(f"at most {MAX_ACCESS_NAMES} allowed users and {MAX_ACCESS_NAMES} allowed groups")
    if any(not name or len(name) > MAX_NAME_CHARS for names in cleaned for name in names):
        raise InvalidArgument(f"allowed user and group names must be 1 to {MAX_NAME_CHARS} characters")
    return cleaned
