"""Builds and runs the embedder's gRPC server."""

import grpc

from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from services.embedder.config import EmbedderSettings
from services.embedder.model import build_embedder
from services.embedder.servicer import EmbedderServicer
from services.runtime.host import ServiceHost, build_host
from services.runtime.host import serve as serve_host

SERVICE_NAME = embedder_pb2.DESCRIPTOR.services_by_name["EmbedderService"].full_name


def create_server(settings: EmbedderSettings) -> ServiceHost:
    """The embedder on its port; `await host.start()` loads the model and marks it SERVING."""
    embedder = build_embedder(settings)

    def register(server: grpc.aio.Server) -> list[str]:
        embedder_pb2_grpc.add_EmbedderServiceServicer_to_server(EmbedderServicer(embedder, settings.max_batch), server)
        return [SERVICE_NAME]

    return build_host(settings, register, embedder.warm_up, embedder.close)


def serve() -> None:
    settings = EmbedderSettings()
    serve_host(lambda: create_server(settings), settings)
