"""API keys: issued once, stored as a sha256 hash under a short visible prefix, scoped, expiring, revocable."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from limits import parse_many
from sqlalchemy import select

from services.gateway.identity import SCOPES
from services.gateway.ratelimits import BUCKETS
from services.gateway.records.database import Database
from services.gateway.records.models import ApiKey
from services.runtime.errors import InvalidArgument, NotFound

# "rmk_" + 8 hex characters of prefix + "_" + 43 characters of secret (256 bits).
KEY_MARK = "rmk_"
_PREFIX_HEX = 8


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(presented: str) -> str | None:
    """The lookup prefix of a presented key, or None when it is not shaped like one of ours."""
    head, _, secret = presented[len(KEY_MARK) :].partition("_")
    if not presented.startswith(KEY_MARK) or len(head) != _PREFIX_HEX or len(secret) < 32:
        return None
    return KEY_MARK + head


@dataclass(frozen=True)
class IssuedKey:
    """A key just created: the only moment its secret exists outside the caller's hands."""

    record: ApiKey
    key: str


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidArgument(f"scopes must be a non-empty list of {', '.join(SCOPES)}; got {scopes}")
    return sorted(set(scopes), key=SCOPES.index)


def check_rate_limits(tiers: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
    """Tiers by bucket, each parsed by the `limits` library; InvalidArgument naming the first bad one."""
    if tiers is None:
        return None
    for bucket, values in tiers.items():
        if bucket not in BUCKETS:
            raise InvalidArgument(f"unknown rate-limit bucket {bucket!r}; buckets: {', '.join(BUCKETS)}")
        for value in values:
            try:
                parse_many(value)
            except ValueError as exc:
                raise InvalidArgument(f"rate limit {value!r} of {bucket!r}: write it like '100/minute'") from exc
    return tiers


class KeyStore:
    """The API key table."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(
        self,
        tenant: str,
        name: str,
        scopes: list[str],
        *,
        created_by: str,
        expires_at: datetime | None = None,
        user: str = "",
        groups: list[str] | None = None,
        rate_limits: dict[str, list[str]] | None = None,
        tier: str = "",
    ) -> IssuedKey:
        now = datetime.now(UTC)
        if expires_at is not None and expires_at <= now:
            raise InvalidArgument("expires_at is in the past")
        prefix = KEY_MARK + secrets.token_hex(_PREFIX_HEX // 2)
        key = f"{prefix}_{secrets.token_urlsafe(32)}"
        record = ApiKey(
            id=secrets.token_hex(8),
            prefix=prefix,
            key_hash=key_hash(key),
            tenant=tenant,
            name=name,
            scopes=check_scopes(scopes),
            user=user,
            groups=sorted(set(groups or [])),
            rate_limits=check_rate_limits(rate_limits),
            tier=tier,
            created_at=now,
            created_by=created_by,
            expires_at=expires_at,
        )
        async with self._db.session() as session:
            session.add(record)
        return IssuedKey(record, key)

    async def list(self, tenant: str, include_revoked: bool = False) -> list[ApiKey]:
        query = select(ApiKey).where(ApiKey.tenant == tenant).order_by(ApiKey.created_at)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        async with self._db.session() as session:
            return list((await session.scalars(query)).all())

    async def revoke(self, tenant: str, key_id: str) -> ApiKey:
        """Revoke one of the tenant's keys (idempotent); NotFound for another tenant's or an unknown id."""
        async with self._db.session() as session:
            record = await session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant == tenant))
            if record is None:
                raise NotFound(f"no key {key_id!r} in tenant {tenant!r}")
            record.revoked_at = record.revoked_at or datetime.now(UTC)
        return record

    async def find(self, presented: str) -> ApiKey | None:
        """The stored key the presented secret proves, whatever its state (the caller checks expiry and
        revocation, to say which it was); None when it proves none."""
        prefix = key_prefix(presented)
        if prefix is None:
            return None
        async with self._db.session() as session:
            record = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if record is None or not hmac.compare_digest(record.key_hash, key_hash(presented)):
            return None
        return record
