"""Builds and runs the generator's gRPC server."""

import grpc

from ragmesh.generator.v1 import generator_pb2, generator_pb2_grpc
from services.generator.config import GeneratorSettings
from services.generator.llm import AnswerWriter
from services.generator.servicer import GeneratorServicer
from services.runtime.host import ServiceHost, build_host
from services.runtime.host import serve as serve_host

SERVICE_NAME = generator_pb2.DESCRIPTOR.services_by_name["GeneratorService"].full_name


def create_server(settings: GeneratorSettings) -> ServiceHost:
    """The generator on its port."""
    writer = AnswerWriter(settings)

    def register(server: grpc.aio.Server) -> list[str]:
        generator_pb2_grpc.add_GeneratorServiceServicer_to_server(GeneratorServicer(writer), server)
        return [SERVICE_NAME]

    return build_host(settings, register, writer.warm_up, writer.close)


def serve() -> None:
    settings = GeneratorSettings()
    serve_host(lambda: create_server(settings), settings)
