"""python -m services.gateway: serve the public API with uvicorn."""

import logging

import uvicorn

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings

settings = GatewaySettings()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
uvicorn.run(
    create_app(settings), host=settings.host, port=settings.port, log_level="info", timeout_graceful_shutdown=30
)
