"""python -m services.gateway: serve the public API with uvicorn."""

import uvicorn

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.runtime.logs import configure_logging

settings = GatewaySettings()
configure_logging(settings)
uvicorn.run(
    create_app(settings),
    host=settings.host,
    port=settings.port,
    log_level=settings.log_level.lower(),
    # Our handler (services/runtime/logs.py) writes uvicorn's records too, as JSON and redacted.
    log_config=None,
    # In-flight requests get the chart's grace period after SIGTERM, as the gRPC services do.
    timeout_graceful_shutdown=settings.grace_seconds,
)
