"""/v1/admin: API keys (create, list, revoke) and the audit log; the admin scope only."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.gateway.admin_models import AuditEntry, AuditList, CreatedKey, CreateKeyRequest, KeyInfo, KeyList
from services.gateway.auth.keys import IssuedKey
from services.gateway.deps import AdminCaller, AuditDep, AuthenticatorDep, KeysDep, SettingsDep
from services.gateway.records.models import ApiKey
from services.gateway.routes import problems
from services.runtime.errors import InvalidArgument

# Every operation may answer 400 (unreadable body), 401 (credentials), 403 (scope, tenant) and 422 (input).
router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=problems(400, 401, 403, 422))


def _info(record: ApiKey) -> KeyInfo:
    def stamp(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    return KeyInfo(
        id=record.id,
        prefix=record.prefix,
        tenant=record.tenant,
        name=record.name,
        scopes=list(record.scopes),
        user=record.user,
        groups=list(record.groups),
        rate_limits=record.rate_limits,
        tier=record.tier,
        created_at=stamp(record.created_at) or "",
        created_by=record.created_by,
        expires_at=stamp(record.expires_at),
        revoked_at=stamp(record.revoked_at),
    )


@router.post("/keys", response_model=CreatedKey, status_code=201, responses=problems(400, 401, 403, 422))
async def create_key(
    body: CreateKeyRequest, caller: AdminCaller, keys: KeysDep, audit: AuditDep, settings: SettingsDep
) -> CreatedKey:
    """Issue a key for the caller's tenant. The key is in this response only: it is stored as a hash."""
    if body.tier and body.tier not in settings.tiers:
        raise InvalidArgument(f"unknown tier {body.tier!r}; tiers: {', '.join(sorted(settings.tiers))}")
    expires_at = body.expires_at
    if body.expires_in_days is not None:
        expires_at = datetime.now(UTC) + timedelta(days=body.expires_in_days)
    issued: IssuedKey = await keys.create(
        caller.tenant,
        body.name,
        body.scopes,
        created_by=f"{caller.user or caller.key_id or caller.via}",
        expires_at=expires_at,
        user=body.user,
        groups=body.groups,
        rate_limits=body.rate_limits,
        tier=body.tier,
    )
    await audit.record(caller.tenant, caller, "key-created", f"{issued.record.id} {issued.record.prefix} {body.scopes}")
    return CreatedKey(key=issued.key, **_info(issued.record).model_dump())


@router.get("/keys", response_model=KeyList, responses=problems(401, 403))
async def list_keys(
    caller: AdminCaller,
    keys: KeysDep,
    include_revoked: Annotated[bool, Query(description="List revoked keys too.")] = False,
) -> KeyList:
    """The tenant's keys, oldest first; never their secrets."""
    return KeyList(keys=[_info(k) for k in await keys.list(caller.tenant, include_revoked)])


@router.delete("/keys/{key_id}", response_model=KeyInfo, responses=problems(401, 403, 404))
async def revoke_key(
    key_id: str, caller: AdminCaller, keys: KeysDep, audit: AuditDep, authenticator: AuthenticatorDep
) -> KeyInfo:
    """Revoke a key: refused by this replica at once, by every replica within `key_cache_seconds`."""
    record = await keys.revoke(caller.tenant, key_id)
    authenticator.forget()
    await audit.record(caller.tenant, caller, "key-revoked", f"{record.id} {record.prefix}")
    return _info(record)


@router.get("/audit", response_model=AuditList, responses=problems(401, 403))
async def audit_log(
    request: Request,
    caller: AdminCaller,
    audit: AuditDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditList:
    """The tenant's audit events, newest first."""
    return AuditList(
        events=[
            AuditEntry(
                at=e.at.isoformat(),
                actor=e.actor,
                action=e.action,
                detail=e.detail,
            )
            for e in await audit.events(caller.tenant, limit)
        ]
    )
