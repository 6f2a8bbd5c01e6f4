"""The settings base class every service extends with its own env prefix."""

import os
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Secrets arrive as files (a mounted Kubernetes Secret) rather than environment variables: each file is
# named like the variable it stands for, e.g. ragmesh_gateway_api_keys.
SECRETS_DIR = os.environ.get("RAGMESH_SECRETS_DIR") or None


class ServiceSettings(BaseSettings):
    """Where a service listens and how it stops.

    Each service subclasses this with `model_config = SettingsConfigDict(env_prefix="RAGMESH_<NAME>_")`,
    so `RAGMESH_EMBEDDER_PORT=50051` sets the embedder's port; a file of that name in RAGMESH_SECRETS_DIR
    sets it too (environment variables win).
    """

    model_config = SettingsConfigDict(extra="ignore", secrets_dir=SECRETS_DIR)
    # The service's name in traces, logs and metrics (each subclass sets its own).
    service_name: ClassVar[str] = "service"

    host: str = "127.0.0.1"
    # 0 picks a free port (tests); the chart sets a fixed one.
    port: int = 0
    # Seconds in-flight calls get to finish after SIGTERM.
    grace_seconds: float = 10.0
    # Port of the Prometheus /metrics endpoint; 0 turns it off.
    metrics_port: int = 0
    log_level: str = "INFO"
    # json: one JSON object per line (time, level, service, trace and span ids, event), personal data redacted;
    # text: the same redacted lines for a human at a terminal.
    log_format: Literal["json", "text"] = "json"
    # OpenTelemetry traces (services/runtime/telemetry.py): off makes no spans at all.
    tracing: bool = True
    # Share of requests traced, decided at the gateway; the services a request reaches follow its decision and start
    # no trace of their own (their setting is not read).
    trace_sample_ratio: float = Field(1.0, ge=0.0, le=1.0)
    # An OTLP/gRPC collector, e.g. http://otel-collector:4317; empty: spans are not exported.
    otlp_endpoint: str = ""
    # Service-to-service authentication (services/runtime/peers.py): none, token or mtls.
    peer_auth: Literal["none", "token", "mtls"] = "none"
    # token: what this service sends when it calls another ...
    peer_token: SecretStr | None = None
    # ... and the peers it accepts calls from, name -> token (JSON).
    peer_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    # mtls: this service's key and certificate, the CA every peer's certificate chains to, and (optional) the
    # common names accepted; empty: any certificate the CA signed.
    tls_key_file: Path = Path("/etc/ragmesh/tls/tls.key")
    tls_cert_file: Path = Path("/etc/ragmesh/tls/tls.crt")
    tls_ca_file: Path = Path("/etc/ragmesh/tls/ca.crt")
    peer_names: list[str] = Field(default_factory=list)
    # mtls: a plaintext port that serves only the health service, for the kubelet's gRPC probes; 0: none.
    health_port: int = 0
    # Circuit breakers on calls to other services (services/runtime/breakers.py): open after this many consecutive
    # failures, let calls through again after this many seconds, close after this many successes.
    breaker_fail_max: int = 5
    breaker_reset_seconds: float = 30.0
    breaker_success_threshold: int = 3
