"""Request dependencies: the caller (and the scope a route needs), the downstream clients, the query service."""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.identity import Principal
from services.gateway.query.service import QueryService
from services.runtime.errors import PermissionDenied, Unauthenticated

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key issued to a tenant.")
_bearer = HTTPBearer(auto_error=False, description="An API key, or a JWT from the configured issuer.")


def get_settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


def get_downstream(request: Request) -> Downstream:
    return request.app.state.downstream


def get_service(request: Request) -> QueryService:
    return request.app.state.service


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
ClientsDep = Annotated[Downstream, Depends(get_downstream)]
ServiceDep = Annotated[QueryService, Depends(get_service)]


def authenticate(
    settings: SettingsDep,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller the presented credential proves; 401 without a valid one."""
    presented = api_key or (bearer.credentials if bearer else None)
    if not presented:
        raise Unauthenticated("missing API key: send it as 'X-API-Key', or a key or JWT as 'Authorization: Bearer'")
    tenant = None
    # Compare against every key in constant time, so timing does not reveal a near miss.
    for key, owner in settings.api_keys.items():
        if hmac.compare_digest(key.encode(), presented.encode()):
            tenant = owner
    if tenant is None:
        raise Unauthenticated("invalid API key")
    return Principal(tenant=tenant, via="bootstrap-key")


def requires(scope: str):
    """A dependency: the caller, when its credential carries `scope` (or admin); 403 otherwise."""

    def check(caller: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not caller.allows(scope):
            raise PermissionDenied(f"this credential lacks the {scope!r} scope")
        return caller

    return check


QueryCaller = Annotated[Principal, Depends(requires("query"))]
IngestCaller = Annotated[Principal, Depends(requires("ingest"))]
AdminCaller = Annotated[Principal, Depends(requires("admin"))]
