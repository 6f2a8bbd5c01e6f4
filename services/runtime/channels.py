"""Client channels between services: one options set, so every hop behaves the same."""

import json

import grpc
import pybreaker

from services.runtime.breakers import BreakerInterceptor
from services.runtime.deadlines import DeadlineInterceptor
from services.runtime.peers import channel_credentials, client_interceptors
from services.runtime.settings import ServiceSettings
from services.runtime.telemetry import grpc_client_interceptors

# Big enough for a batch of document chunks with their vectors.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# Calls that are safe to repeat: reads, and embedding (a pure function). Writes (ingest, deletes, schema and access
# changes, upserts) and model calls (LiteLLM retries and falls back on its own) are never retried here.
IDEMPOTENT = {
    "ragmesh.embedder.v1.EmbedderService": None,
    "ragmesh.retriever.v1.RetrieverService": ["Search", "GetSections", "GetStats"],
    "ragmesh.generator.v1.GeneratorService": ["CountTokens", "Describe"],
    "ragmesh.ingest.v1.IngestService": [
        "GetDocument",
        "GetDocumentText",
        "ListDocuments",
        "GetMetadataSchema",
        "GetCorpusVersion",
    ],
    "grpc.health.v1.Health": ["Check"],
}


def _names() -> list[dict[str, str]]:
    return [
        {"service": service} if methods is None else {"service": service, "method": method}
        for service, methods in IDEMPOTENT.items()
        for method in methods or [None]
    ]


_SERVICE_CONFIG = json.dumps(
    {
        # With a dns:/// target over a headless Service this spreads calls across every replica.
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": _names(),
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
        # The retry budget: each failure costs a token, each success gives back a tenth of one; under half the
        # tokens left, no call is retried. An outage does not multiply the load on the peer that is failing.
        "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
    }
)

CHANNEL_OPTIONS: list[tuple[str, object]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.service_config", _SERVICE_CONFIG),
    ("grpc.enable_retries", 1),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # Re-resolve DNS regularly so new replicas get traffic without waiting for a failure.
    ("grpc.dns_min_time_between_resolutions_ms", 5_000),
    ("grpc.max_connection_age_ms", 300_000),
]

SERVER_OPTIONS: list[tuple[str, object]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    # Close connections now and then so clients re-resolve and rebalance onto new replicas.
    ("grpc.max_connection_age_ms", 300_000),
    ("grpc.max_connection_age_grace_ms", 30_000),
]


def open_channel(
    target: str,
    settings: ServiceSettings | None = None,
    guard: pybreaker.CircuitBreaker | None = None,
    extra: tuple[grpc.aio.ClientInterceptor, ...] = (),
) -> grpc.aio.Channel:
    """A channel to another service, authenticated as the settings say (services/runtime/peers.py): TLS with our
    certificate for mtls, our token on every call for token, plaintext for none (one machine); every call through
    the service's circuit breaker when one is given (services/runtime/breakers.py) and traced (telemetry.py); then
    through the caller's `extra` interceptors."""
    if settings is None:
        return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
    # The trace's context goes on every call (and a span per call), the breaker's refusals included.
    interceptors: list[grpc.aio.ClientInterceptor] = grpc_client_interceptors(settings)
    interceptors += [BreakerInterceptor(guard)] if guard else []
    interceptors.append(DeadlineInterceptor())
    interceptors += client_interceptors(settings)
    interceptors += extra
    credentials = channel_credentials(settings)
    if credentials is not None:
        return grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS, interceptors=interceptors)
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=interceptors)
