"""MCP over streamable HTTP at the gateway's /mcp. Stateless (any replica answers any request: no sticky sessions
behind the load balancer), a request's credential checked before the transport sees it (401 as anywhere else), and
each tool call made to this same app in process (httpx's ASGI transport) with the request's own credential headers,
so every tool meets the scopes, limits and budgets of the key that called it."""

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.mcp_tools import mcp_server
from services.runtime.errors import Unauthenticated

PATH = "/mcp"
# What a tool call carries over from the MCP request: the credential, the operator's tenant, the trace.
FORWARDED = ("x-api-key", "authorization", "x-ragmesh-tenant", "traceparent", "tracestate")


class _Credentialed:
    """The MCP transport, behind the gateway's credential check."""

    def __init__(self, app: FastAPI, transport: ASGIApp) -> None:
        self._app = app
        self._transport = transport

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        presented = headers.get("x-api-key") or (token if scheme.lower() == "bearer" else "")
        if not presented:
            raise Unauthenticated("missing API key: send it as 'X-API-Key', or a key or JWT as 'Authorization: Bearer'")
        # Raises Unauthenticated (401) for a key or token that proves no one; the app's handlers answer it.
        await self._app.state.authenticator.authenticate(presented)
        await self._transport(scope, receive, send)


def serve_mcp(app: FastAPI, timeout_seconds: float) -> contextlib.AbstractAsyncContextManager[None]:
    """Add the /mcp route to `app`; the context manager runs its sessions (enter it in the app's lifespan)."""

    @contextlib.asynccontextmanager
    async def client_for(ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
        sent = ctx.headers or {}
        headers = {name: sent[name] for name in FORWARDED if name in sent}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gateway", headers=headers, timeout=timeout_seconds
        ) as client:
            yield client

    server = mcp_server(client_for)
    # Every call needs a credential, which a page of another origin cannot present: DNS rebinding protection (for
    # servers that trust whoever reaches them on localhost) would only refuse the gateway's own host names.
    transport = server.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    (route,) = [r for r in transport.routes if isinstance(r, Route) and r.path == PATH]
    app.router.routes.append(Route(PATH, endpoint=_Credentialed(app, route.endpoint), include_in_schema=False))
    return server.session_manager.run()
