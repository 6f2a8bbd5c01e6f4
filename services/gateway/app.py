"""The FastAPI application."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from fastapi import FastAPI
from prometheus_client import make_asgi_app

from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.errors import grpc_error_handler, service_error_handler
from services.gateway.query.service import QueryService
from services.gateway.routes import documents, health, metadata, query
from services.runtime.errors import ServiceError


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """The gateway app; channels and Redis open in the lifespan, once per process."""
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        downstream = Downstream.open(settings)
        app.state.downstream = downstream
        app.state.service = QueryService(settings, downstream)
        try:
            yield
        finally:
            await downstream.close()

    app = FastAPI(
        title="ragmesh",
        version="0.1.0",
        summary="Answers questions over your own documents, with citations.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_exception_handler(grpc.aio.AioRpcError, grpc_error_handler)
    app.add_exception_handler(ServiceError, service_error_handler)
    app.include_router(health.router)
    app.include_router(documents.router)
    app.include_router(query.router)
    app.include_router(metadata.router)
    app.mount("/metrics", make_asgi_app())
    return app
