"""/v1/admin/cache: how many entries each cache layer holds, and dropping them (an administrator: its tenant's; an
operator: every tenant's, and the embedding cache all tenants share)."""

from typing import Annotated

from fastapi import APIRouter, Query

from services.gateway.admin_models import CacheEntries
from services.gateway.deps import AdminCaller, AuditDep, ClientsDep, SettingsDep
from services.gateway.query.caches import Caches
from services.gateway.query.caches.keys import LAYERS
from services.gateway.routes import problems
from services.runtime.errors import PermissionDenied

router = APIRouter(prefix="/v1/admin/cache", tags=["admin"], responses=problems(401, 403, 422))

Tenant = Annotated[
    str | None,
    Query(max_length=128, description="Operators: one tenant, or '*' for every tenant; default: the caller's."),
]


def _scope(caller_tenant: str, operator: bool, tenant: str | None) -> str | None:
    """The tenant whose entries are meant (None: every tenant)."""
    if tenant in (None, caller_tenant):
        return caller_tenant
    if not operator:
        raise PermissionDenied("only an operator's admin credential may reach another tenant's cache")
    return None if tenant == "*" else tenant


@router.get("", response_model=CacheEntries)
async def cache_entries(
    caller: AdminCaller, clients: ClientsDep, settings: SettingsDep, tenant: Tenant = None
) -> CacheEntries:
    """Entries per layer (answer, semantic, retrieval) for the tenant, or every tenant."""
    scope = _scope(caller.tenant, caller.tenant in settings.operator_tenants, tenant)
    return CacheEntries(tenant=scope or "*", entries=await Caches(clients.cache_redis).sizes(scope))


@router.delete("", response_model=CacheEntries)
async def drop_cache(
    caller: AdminCaller, clients: ClientsDep, settings: SettingsDep, audit: AuditDep, tenant: Tenant = None
) -> CacheEntries:
    """Drop the cached answers and searches of the tenant (or, for operators, of every tenant, and the shared
    embedding cache too). Returns how many entries went, per layer."""
    scope = _scope(caller.tenant, caller.tenant in settings.operator_tenants, tenant)
    layers = LAYERS if scope else (*LAYERS, "embedding")
    dropped = await Caches(clients.cache_redis).drop(scope, layers)
    await audit.record(scope or caller.tenant, caller, "cache-dropped", f"{scope or '*'} {dropped}")
    return CacheEntries(tenant=scope or "*", entries=dropped)
