"""The gRPC host every service runs in: health, reflection, error mapping, graceful stop."""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from services.runtime.channels import SERVER_OPTIONS
from services.runtime.deadlines import within_deadline
from services.runtime.errors import map_errors
from services.runtime.interceptors import GuardInterceptor
from services.runtime.logs import configure_logging
from services.runtime.metrics import observe_call
from services.runtime.peers import peer_guard, server_credentials
from services.runtime.settings import ServiceSettings
from services.runtime.telemetry import grpc_server_interceptor

log = logging.getLogger(__name__)


@dataclass
class ServiceHost:
    """A started-but-not-yet-serving gRPC server and what it needs to become ready and to stop.

    Health stays NOT_SERVING until `start()` has run `warm_up`, so Kubernetes (and `ragmesh up`)
    only route traffic to a replica whose model or index is loaded.
    """

    server: grpc.aio.Server
    port: int
    service_names: list[str]
    health: health.aio.HealthServicer
    warm_up: Callable[[], Awaitable[None]]
    close: Callable[[], Awaitable[None]]
    # A plaintext port serving only health, for the kubelet's probes when the service port demands mTLS.
    health_server: grpc.aio.Server | None = None
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        names = ["", *self.service_names]
        for name in names:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.start()
        if self.health_server is not None:
            await self.health_server.start()
        await self.warm_up()
        for name in names:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving %s on port %d", ", ".join(self.service_names), self.port)

    async def stop(self, grace: float) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        # Readiness first, so load balancers stop sending before the listener goes.
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        if self.health_server is not None:
            await self.health_server.stop(0)
        await self.close()

    async def wait(self) -> None:
        await self.server.wait_for_termination()


def build_host(
    settings: ServiceSettings,
    register: Callable[[grpc.aio.Server], list[str]],
    warm_up: Callable[[], Awaitable[None]],
    close: Callable[[], Awaitable[None]],
) -> ServiceHost:
    """Create a server with the shared interceptors, health and reflection, and bind its port.

    `register` adds the service's servicers and returns their full names.
    """
    interceptors: list[grpc.aio.ServerInterceptor] = [
        GuardInterceptor(within_deadline),
        GuardInterceptor(observe_call),
        GuardInterceptor(map_errors),
    ]
    guard = peer_guard(settings)
    if guard is not None:
        # Inside map_errors, so a refused peer gets UNAUTHENTICATED with the reason.
        interceptors.append(GuardInterceptor(guard))
    if (tracing := grpc_server_interceptor(settings)) is not None:
        # Outermost: the caller's trace continues here, and every other interceptor's work is inside the span.
        interceptors.insert(0, tracing)
    server = grpc.aio.server(interceptors=interceptors, options=SERVER_OPTIONS)
    names = register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    address = f"{settings.host}:{settings.port}"
    credentials = server_credentials(settings)
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"could not bind {settings.host}:{settings.port}")
    health_server = None
    if credentials is not None and settings.health_port:
        health_server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        if health_server.add_insecure_port(f"{settings.host}:{settings.health_port}") == 0:
            raise RuntimeError(f"could not bind the health port {settings.host}:{settings.health_port}")
    return ServiceHost(server, port, names, health_servicer, warm_up, close, health_server)


def serve(create: Callable[[], ServiceHost], settings: ServiceSettings) -> None:
    """Run one service until SIGTERM or SIGINT, then drain and stop."""
    configure_logging(settings)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.host)

    async def main() -> None:
        host = create()
        loop = asyncio.get_running_loop()
        stopping: set[asyncio.Task[None]] = set()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stopping.add(asyncio.create_task(host.stop(settings.grace_seconds))))
        await host.start()
        # A line the supervisor (`ragmesh up`) and humans can read.
        print(f"READY port={host.port}", flush=True)
        await host.wait()
        if stopping:
            await asyncio.gather(*stopping)

    asyncio.run(main())
