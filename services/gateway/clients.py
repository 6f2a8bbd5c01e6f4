"""The gateway's downstream connections: one gRPC channel per service and one Redis pool, opened once."""

from dataclasses import dataclass, field

import grpc
import pybreaker
import redis.asyncio as redis
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import Gauge

from ragmesh.embedder.v1 import embedder_pb2_grpc
from ragmesh.generator.v1 import generator_pb2_grpc
from ragmesh.ingest.v1 import ingest_pb2_grpc
from ragmesh.retriever.v1 import retriever_pb2_grpc
from services.gateway.config import GatewaySettings
from services.gateway.query.caches.versions import CorpusVersions
from services.runtime import stores
from services.runtime.background import Background
from services.runtime.breakers import breaker
from services.runtime.channels import open_channel
from services.runtime.telemetry import instrument_redis

UP = Gauge("ragmesh_gateway_dependency_up", "1 when the dependency answers its health check, else 0.", ["dependency"])


def redis_options(settings: GatewaySettings) -> dict[str, object]:
    """Connection options for every Redis client of the gateway."""
    return stores.redis_options(settings.redis_url, settings.redis_password, settings.redis_timeout_seconds)


@dataclass
class Downstream:
    embedder: embedder_pb2_grpc.EmbedderServiceStub
    retriever: retriever_pb2_grpc.RetrieverServiceStub
    generator: generator_pb2_grpc.GeneratorServiceStub
    ingest: ingest_pb2_grpc.IngestServiceStub
    redis: redis.Redis
    # The caches' Redis: `redis` itself unless the caches have their own.
    cache_redis: redis.Redis
    channels: dict[str, grpc.aio.Channel]
    guards: dict[str, pybreaker.CircuitBreaker]
    # Each tenant's corpus version (asked of ingest, kept while its changes are announced).
    versions: CorpusVersions
    # What a request starts but does not wait for (cache stores): drained before the connections close.
    background: Background = field(default_factory=Background)

    @classmethod
    def open(cls, settings: GatewaySettings) -> "Downstream":
        targets = {
            "embedder": settings.embedder_target,
            "retriever": settings.retriever_target,
            "generator": settings.generator_target,
            "ingest": settings.ingest_target,
        }
        guards = {name: breaker(name, settings) for name in targets}
        versions = CorpusVersions(settings.retrieval_timeout_seconds, settings.corpus_version_seconds)
        extras = {"ingest": (versions.interceptor(),)}
        channels = {
            name: open_channel(target, settings, guards[name], extras.get(name, ())) for name, target in targets.items()
        }
        versions.ingest = ingest_pb2_grpc.IngestServiceStub(channels["ingest"])
        timeout = settings.redis_timeout_seconds
        state = stores.redis_client(settings.redis_url, settings.redis_password, timeout)
        caches = (
            stores.redis_client(settings.cache_redis_url, settings.cache_redis_password, timeout)
            if settings.cache_redis_url
            else state
        )
        for client in {state, caches}:
            instrument_redis(client, settings)
        return cls(
            embedder=embedder_pb2_grpc.EmbedderServiceStub(channels["embedder"]),
            retriever=retriever_pb2_grpc.RetrieverServiceStub(channels["retriever"]),
            generator=generator_pb2_grpc.GeneratorServiceStub(channels["generator"]),
            ingest=versions.ingest,
            redis=state,
            cache_redis=caches,
            channels=channels,
            guards=guards,
            versions=versions,
        )

    def breakers(self) -> dict[str, str]:
        """Each downstream's circuit breaker state."""
        return {name: breaker.current_state for name, breaker in self.guards.items()}

    async def readiness(self) -> dict[str, str]:
        """Each dependency's state: "serving" or why not (also the ragmesh_gateway_dependency_up gauge)."""
        states: dict[str, str] = {}
        for name, channel in self.channels.items():
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
                states[name] = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status).lower()
            except grpc.aio.AioRpcError as exc:
                states[name] = f"unreachable ({exc.code().name})"
        redises = {"redis": self.redis}
        if self.cache_redis is not self.redis:
            redises["cache-redis"] = self.cache_redis
        for name, client in redises.items():
            try:
                await client.ping()
                states[name] = "serving"
            except redis.RedisError as exc:
                states[name] = f"unreachable ({type(exc).__name__})"
        for name, state in states.items():
            UP.labels(name).set(1 if state == "serving" else 0)
        return states

    async def close(self) -> None:
        await self.versions.close()
        await self.background.drain()
        for channel in self.channels.values():
            await channel.close()
        await self.redis.aclose()
        if self.cache_redis is not self.redis:
            await self.cache_redis.aclose()
