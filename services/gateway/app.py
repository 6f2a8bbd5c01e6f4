"""The FastAPI application."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from prometheus_client import start_http_server

from services.gateway.access import AccessLog
from services.gateway.audit import AuditLog
from services.gateway.auth.authenticator import Authenticator
from services.gateway.auth.jwt import JwtVerifier
from services.gateway.auth.keys import KeyStore
from services.gateway.body_limits import BodyLimit
from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.errors import (
    DATABASE_UNAVAILABLE,
    database_error_handler,
    grpc_error_handler,
    service_error_handler,
    validation_error_handler,
)
from services.gateway.learning.adapters import Adapters
from services.gateway.learning.artifacts import AdapterArtifacts
from services.gateway.learning.dials import Dials
from services.gateway.learning.feedback import FeedbackBook
from services.gateway.learning.interactions import InteractionLog
from services.gateway.learning.preferences import UserPreferences
from services.gateway.learning.prompts import PromptRegistry
from services.gateway.learning.retraining import Retraining
from services.gateway.learning.reviews import Reviews
from services.gateway.mcp_http import serve_mcp
from services.gateway.query.caches import Caches
from services.gateway.query.service import QueryService
from services.gateway.ratelimits import LimitPolicy, RateLimiter
from services.gateway.records.database import Database
from services.gateway.routes import (
    adapters,
    admin,
    batch,
    caches,
    collection,
    dials,
    documents,
    evaluations,
    feedback,
    health,
    interactions,
    jobs,
    metadata,
    metrics,
    openai,
    preferences,
    prompts,
    quarantine,
    query,
    reviews,
    usage,
    variants,
    web,
)
from services.gateway.shedding import LoadShedding
from services.gateway.usage import UsageLedger
from services.runtime import telemetry
from services.runtime.errors import ServiceError


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """The gateway app; channels and Redis open in the lifespan, once per process."""
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.database)
        telemetry.instrument_engine(database.engine.sync_engine, settings)
        if settings.migrate_on_start:
            await database.migrate()
        downstream = Downstream.open(settings)
        downstream.versions.listen(settings.redis_url, settings.redis_password, settings.redis_timeout_seconds)
        # Prometheus scrapes this port inside the cluster; the public port's /metrics needs the admin scope.
        exporter = start_http_server(settings.metrics_port, addr=settings.host) if settings.metrics_port else None
        counting = Caches(downstream.cache_redis).keep_counted(settings.cache_size_interval_seconds)
        app.state.downstream = downstream
        app.state.ledger = UsageLedger(database)
        interactions = InteractionLog(
            database,
            settings.interaction_secret,
            settings.interaction_hashed_tenants,
            settings.review_confidence_below,
        )
        app.state.dials = Dials(
            database, downstream.embedder, settings.retrieval_timeout_seconds, settings.dial_cache_seconds
        )
        app.state.preferences = UserPreferences(
            database,
            downstream.embedder,
            settings.retrieval_timeout_seconds,
            settings.dial_cache_seconds,
            settings.user_vector_least_judged,
        )
        artifacts = AdapterArtifacts.configured(settings)
        await artifacts.store.start()
        app.state.adapters = Adapters(
            database,
            artifacts,
            settings.dial_cache_seconds,
            settings.canary_least_answers,
            settings.canary_most_extra_negative,
            settings.retrain_abandoned_after_seconds,
        )
        app.state.retraining = Retraining(
            database, downstream, artifacts, settings.retrain_least_labels, settings.retrieval_timeout_seconds
        )
        app.state.prompts = PromptRegistry(
            database, settings.dial_cache_seconds, settings.canary_least_answers, settings.canary_most_extra_negative
        )
        app.state.service = QueryService(
            settings,
            downstream,
            app.state.ledger,
            interactions,
            app.state.dials,
            app.state.preferences,
            app.state.adapters,
            app.state.prompts,
        )
        app.state.feedback = FeedbackBook(
            database,
            interactions,
            app.state.preferences,
            app.state.adapters,
            settings.interaction_secret,
            app.state.prompts,
        )
        app.state.reviews = Reviews(database, interactions, settings.review_confidence_below)
        app.state.keys = KeyStore(database)
        app.state.audit = AuditLog(database)
        app.state.authenticator = Authenticator(
            settings.api_keys, app.state.keys, JwtVerifier.configured(settings), settings.key_cache_seconds
        )
        app.state.rate_limiter = RateLimiter(
            downstream.redis,
            LimitPolicy(
                caller=settings.rate_limits,
                tenant=settings.tenant_rate_limits,
                per_tenant=settings.tenant_rate_limit_overrides,
                suite=settings.global_rate_limits,
                tenant_in_flight=settings.tenant_max_in_flight,
                in_flight_seconds=settings.in_flight_timeout_seconds,
            ),
        )
        try:
            async with app.state.mcp_sessions:
                yield
        finally:
            if counting is not None:
                counting.cancel()
            if exporter is not None:
                exporter[0].shutdown()
            await app.state.service.spending.flush()
            await interactions.flush()
            await downstream.close()
            await database.close()
            artifacts.store.close()

    app = FastAPI(
        title="ragmesh",
        version="0.1.0",
        summary="Answers questions over your own documents, with citations.",
        lifespan=lifespan,
        **({} if settings.docs_enabled else {"docs_url": None, "redoc_url": None, "openapi_url": None}),
    )
    app.state.settings = settings
    # Uploads may be as large as the upload or batch limit (plus the multipart envelope); every other body is JSON.
    app.add_middleware(
        BodyLimit,
        limit_for=lambda method, path: (
            max(settings.max_upload_bytes, settings.max_batch_bytes) + 64 * 1024
            if method == "POST" and path == "/v1/documents"
            else settings.max_body_bytes
        ),
    )
    # Outermost: a full replica refuses before reading a byte of the body.
    app.add_middleware(LoadShedding, limit=settings.max_in_flight_requests)
    # Outside shedding, so shed requests are counted and logged; inside the trace, so the line carries its id.
    app.add_middleware(AccessLog)
    app.add_exception_handler(grpc.aio.AioRpcError, grpc_error_handler)
    app.add_exception_handler(ServiceError, service_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, database_error_handler)
    app.include_router(health.router)
    # Routes are matched in order (by Starlette, and again by the tracing middleware to name its span): the routes
    # most requests take come first.
    app.include_router(query.router)
    app.include_router(documents.router)
    app.include_router(jobs.router)
    app.include_router(batch.router)
    app.include_router(collection.router)
    app.include_router(metadata.router)
    app.include_router(feedback.router)
    app.include_router(preferences.router)
    app.include_router(admin.router)
    app.include_router(reviews.router)
    app.include_router(dials.router)
    app.include_router(adapters.router)
    app.include_router(evaluations.router)
    app.include_router(prompts.router)
    app.include_router(variants.router)
    app.include_router(interactions.router)
    app.include_router(openai.router)
    app.include_router(quarantine.router)
    app.include_router(usage.router)
    app.include_router(caches.router)
    app.include_router(metrics.router)
    app.state.mcp_sessions = serve_mcp(app, settings.mcp_tool_timeout_seconds)
    if settings.page_enabled:
        web.serve_page(app)
    telemetry.instrument_app(app, settings)
    return app
