"""Request dependencies: the caller (and the scope a route needs), the downstream clients, the query service.

Every dependency is a coroutine: FastAPI runs a plain function in its thread pool, a hop that cost a cached answer
a couple of milliseconds when two dozen of them ran per request."""

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.audit import AuditLog
from services.gateway.auth.authenticator import Authenticator
from services.gateway.auth.keys import KeyStore
from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.identity import Principal
from services.gateway.learning.adapters import Adapters
from services.gateway.learning.dials import Dials
from services.gateway.learning.feedback import FeedbackBook
from services.gateway.learning.preferences import UserPreferences
from services.gateway.learning.prompts import PromptRegistry
from services.gateway.learning.retraining import Retraining
from services.gateway.learning.reviews import Reviews
from services.gateway.query.service import QueryService
from services.gateway.ratelimits import RateLimiter
from services.gateway.usage import UsageLedger
from services.runtime.errors import PermissionDenied, Unauthenticated
from services.runtime.telemetry import annotate, step

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key issued to a tenant.")
_bearer = HTTPBearer(auto_error=False, description="An API key, or a JWT from the configured issuer.")


async def get_settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


async def get_downstream(request: Request) -> Downstream:
    return request.app.state.downstream


async def get_service(request: Request) -> QueryService:
    return request.app.state.service


async def get_keys(request: Request) -> KeyStore:
    return request.app.state.keys


async def get_audit(request: Request) -> AuditLog:
    return request.app.state.audit


async def get_authenticator(request: Request) -> Authenticator:
    return request.app.state.authenticator


async def get_ledger(request: Request) -> UsageLedger:
    return request.app.state.ledger


async def get_feedback(request: Request) -> FeedbackBook:
    return request.app.state.feedback


async def get_reviews(request: Request) -> Reviews:
    return request.app.state.reviews


async def get_dials(request: Request) -> Dials:
    return request.app.state.dials


async def get_preferences(request: Request) -> UserPreferences:
    return request.app.state.preferences


async def get_adapters(request: Request) -> Adapters:
    return request.app.state.adapters


async def get_retraining(request: Request) -> Retraining:
    return request.app.state.retraining


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
ClientsDep = Annotated[Downstream, Depends(get_downstream)]
ServiceDep = Annotated[QueryService, Depends(get_service)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]
AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]
LedgerDep = Annotated[UsageLedger, Depends(get_ledger)]
FeedbackDep = Annotated[FeedbackBook, Depends(get_feedback)]
ReviewsDep = Annotated[Reviews, Depends(get_reviews)]
DialsDep = Annotated[Dials, Depends(get_dials)]
PreferencesDep = Annotated[UserPreferences, Depends(get_preferences)]
AdapterRegistryDep = Annotated[Adapters, Depends(get_adapters)]
RetrainingDep = Annotated[Retraining, Depends(get_retraining)]


async def get_prompts(request: Request) -> PromptRegistry:
    return request.app.state.prompts


PromptsDep = Annotated[PromptRegistry, Depends(get_prompts)]


async def authenticate(
    request: Request,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    act_for: Annotated[
        str | None,
        Header(
            alias="X-Ragmesh-Tenant",
            description="Operators only: act for this tenant (audited).",
            max_length=128,
        ),
    ] = None,
) -> Principal:
    """The caller the presented credential proves; 401 without a valid one. An operator's admin credential may
    name another tenant to act for; that is allowed only to operator tenants and written to the audit log."""
    presented = api_key or (bearer.credentials if bearer else None)
    if not presented:
        raise Unauthenticated("missing API key: send it as 'X-API-Key', or a key or JWT as 'Authorization: Bearer'")
    # The app's parts straight from its state, not as dependencies of their own: every request comes this way, and
    # FastAPI's resolution of a dependency costs more than the lookup it wraps.
    state = request.app.state
    with step("gateway", "auth"):
        caller = await state.authenticator.authenticate(presented)
    if act_for and act_for != caller.tenant:
        if not (caller.allows("admin") and caller.tenant in state.settings.operator_tenants):
            raise PermissionDenied("only an operator's admin credential may act for another tenant")
        await state.audit.record(act_for, caller, "act-for-tenant", f"{request.method} {request.url.path}")
        caller = dataclasses.replace(caller, tenant=act_for)
    # For the access log and the trace: the tenant, never the key or the user.
    request.state.tenant = caller.tenant
    annotate(tenant=caller.tenant)
    return caller


async def get_rate_limiter(request: Request) -> RateLimiter:
    return request.app.state.rate_limiter


def admitted(scope: str, bucket: str):
    """A dependency: the caller with `scope`, once its request is admitted in `bucket` (429 otherwise); the
    RateLimit-* headers go on the response, and the tenant's in-flight slot is given back afterwards."""

    async def admit(
        request: Request, caller: Annotated[Principal, Depends(authenticate)], response: Response
    ) -> AsyncIterator[Principal]:
        _check_scope(caller, scope)
        state = request.app.state
        async with admission(state.rate_limiter, state.downstream, caller, bucket, response):
            yield caller

    return admit


@contextlib.asynccontextmanager
async def admission(
    limiter: RateLimiter, downstream: Downstream, caller: Principal, bucket: str, response: Response, cost: int = 1
) -> AsyncIterator[None]:
    """Admitted in `bucket` as `cost` requests (429 otherwise), with the RateLimit-* headers on the response; the
    tenant's in-flight slot is given back afterwards, without holding up the response."""
    with step("gateway", "rate_limit", bucket=bucket):
        ticket = await limiter.admit(caller, bucket, caller.rate_limits, cost)
    response.headers.update(ticket.headers())
    try:
        yield
    finally:
        downstream.background.spawn(limiter.release(ticket))


def requires(scope: str):
    """A dependency: the caller, when its credential carries `scope` (or admin); 403 otherwise."""

    async def check(caller: Annotated[Principal, Depends(authenticate)]) -> Principal:
        _check_scope(caller, scope)
        return caller

    return check


def _check_scope(caller: Principal, scope: str) -> None:
    if not caller.allows(scope):
        raise PermissionDenied(f"this credential lacks the {scope!r} scope")


LimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
AnyCaller = Annotated[Principal, Depends(authenticate)]
QueryCaller = Annotated[Principal, Depends(requires("query"))]
# Callers whose request counts against a rate-limit bucket.
AnswerCaller = Annotated[Principal, Depends(admitted("query", "answer"))]
SearchCaller = Annotated[Principal, Depends(admitted("query", "search"))]
UploadCaller = Annotated[Principal, Depends(admitted("ingest", "ingest"))]
IngestCaller = Annotated[Principal, Depends(requires("ingest"))]
AdminCaller = Annotated[Principal, Depends(requires("admin"))]
