"""Request dependencies: the caller's tenant, the downstream clients, the query pipeline."""

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.pipeline import QueryPipeline

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key issued to a tenant.")
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


def get_settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


def get_downstream(request: Request) -> Downstream:
    return request.app.state.downstream


def get_pipeline(request: Request) -> QueryPipeline:
    return request.app.state.pipeline


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
ClientsDep = Annotated[Downstream, Depends(get_downstream)]
PipelineDep = Annotated[QueryPipeline, Depends(get_pipeline)]


def authenticate(
    settings: SettingsDep,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The tenant the presented key belongs to; 401 without a valid key."""
    presented = api_key or (bearer.credentials if bearer else None)
    if not presented:
        raise HTTPException(
            401,
            "missing API key: send it as 'X-API-Key' or 'Authorization: Bearer'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    tenant = None
    # Compare against every key in constant time, so timing does not reveal a near miss.
    for key, owner in settings.api_keys.items():
        if hmac.compare_digest(key.encode(), presented.encode()):
            tenant = owner
    if tenant is None:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return tenant


TenantDep = Annotated[str, Depends(authenticate)]
