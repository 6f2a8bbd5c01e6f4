"""Builds and runs the ingest service's gRPC server."""

import grpc

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.config import IngestSettings
from services.ingest.pipeline import Ingestor
from services.ingest.servicer import IngestServicer
from services.ingest.worker import Workers
from services.runtime.host import ServiceHost, build_host
from services.runtime.host import serve as serve_host

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


def create_server(settings: IngestSettings) -> ServiceHost:
    """The ingest service on its port; `await host.start()` opens the catalogue and its channels."""
    ingestor = Ingestor(settings)
    workers = Workers(ingestor, settings)

    def register(server: grpc.aio.Server) -> list[str]:
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(IngestServicer(ingestor, workers), server)
        return [SERVICE_NAME]

    async def warm_up() -> None:
        await ingestor.warm_up()
        workers.start()

    async def close() -> None:
        await workers.stop()
        await ingestor.close()

    return build_host(settings, register, warm_up, close)


def serve() -> None:
    settings = IngestSettings()
    serve_host(lambda: create_server(settings), settings)
