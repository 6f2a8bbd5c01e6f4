"""python -m services.gateway: serve the public API with uvicorn."""

import logging

import uvicorn

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings

settings = GatewaySettings()
logging.basicConfig(
    level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
)
uvicorn.run(
    create_app(settings),
    host=settings.host,
    port=settings.port,
    log_level=settings.log_level.lower(),
    # In-flight requests get the chart's grace period after SIGTERM, as the gRPC services do.
    timeout_graceful_shutdown=settings.grace_seconds,
)
