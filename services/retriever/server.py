"""Builds and runs the retriever's gRPC server."""

import grpc

from ragmesh.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from services.retriever.config import RetrieverSettings
from services.retriever.index import ChunkIndex
from services.retriever.servicer import RetrieverServicer
from services.runtime.host import ServiceHost, build_host
from services.runtime.host import serve as serve_host

SERVICE_NAME = retriever_pb2.DESCRIPTOR.services_by_name["RetrieverService"].full_name


def build_index(settings: RetrieverSettings) -> ChunkIndex:
    """The backend the settings name (imports stay lazy: each engine is a large native module)."""
    if settings.backend == "qdrant":
        from services.retriever.qdrant_server import QdrantServerIndex

        return QdrantServerIndex(settings)
    from services.retriever.edge import EdgeIndex

    return EdgeIndex(settings)


def create_server(settings: RetrieverSettings) -> ServiceHost:
    """The retriever on its port; `await host.start()` opens the index and marks it SERVING."""
    index = build_index(settings)

    def register(server: grpc.aio.Server) -> list[str]:
        servicer = RetrieverServicer(
            index, settings.dense_dimension, settings.max_top_k, settings.prefetch_factor, settings.rrf_k
        )
        retriever_pb2_grpc.add_RetrieverServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return build_host(settings, register, index.warm_up, index.close)


def serve() -> None:
    settings = RetrieverSettings()
    serve_host(lambda: create_server(settings), settings)
