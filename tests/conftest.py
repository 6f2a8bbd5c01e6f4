"""Session-wide real parts: Redis, the embedding model, the Qdrant engine, the generator, ingest, gateway."""

import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import httpx
import pytest
from moto.server import ThreadedMotoServer

from ragmesh.suite import free_port, redis_server
from services.embedder.config import EmbedderSettings
from services.embedder.server import create_server as create_embedder
from services.gateway.config import GatewaySettings
from services.generator.config import GeneratorSettings
from services.generator.server import create_server as create_generator
from services.ingest.config import IngestSettings
from services.ingest.server import create_server as create_ingest
from services.retriever.config import RetrieverSettings
from services.retriever.server import create_server as create_retriever
from tests.servers import gateway, postgres_server, running

# The answer LiteLLM's mock gives for every question: it cites passage 1.
MOCK_ANSWER = "The passages answer this directly [1]."
KEYS = {
    "key-acme": "acme",
    "key-globex": "globex",
    "key-papers": "papers",
    "key-context": "context",
    "key-claims": "claims",
    "key-batches": "batches",
    "key-quarantine": "quarantine",
}
ACME = {"X-API-Key": "key-acme"}
GLOBEX = {"X-API-Key": "key-globex"}
# A tenant with a declared metadata schema (self-query).
PAPERS = {"X-API-Key": "key-papers"}
# A tenant for context building: sections, compression, ambiguity.
CONTEXT = {"X-API-Key": "key-context"}
# A tenant for claim verification.
CLAIMS = {"X-API-Key": "key-claims"}
# A tenant for batch jobs.
BATCHES = {"X-API-Key": "key-batches"}
# A tenant for quarantine decisions.
QUARANTINE = {"X-API-Key": "key-quarantine"}


@dataclass
class Suite:
    redis_url: str
    embedder: str
    retriever: str
    generator: str
    ingest: str
    data_dir: Path

    def gateway_settings(self, **overrides: object) -> GatewaySettings:
        values = {
            "api_keys": KEYS,
            "embedder_target": self.embedder,
            "retriever_target": self.retriever,
            "generator_target": self.generator,
            "ingest_target": self.ingest,
            "redis_url": self.redis_url,
            "data_dir": self.data_dir,
        }
        return GatewaySettings(**{**values, **overrides})


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url():
    with postgres_server() as url:
        yield url


# Keys moto's S3 server accepts (it accepts any).
S3_CREDENTIALS = {"region": "us-east-1", "access_key_id": "testing", "secret_access_key": "testing"}


@pytest.fixture(scope="session")
def s3_endpoint():
    """An S3 API on loopback: moto's server, the only S3 that runs here."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
async def embedder_target():
    async with running(create_embedder(EmbedderSettings())) as target:
        yield target


@pytest.fixture(scope="session")
async def retriever_target(tmp_path_factory: pytest.TempPathFactory):
    settings = RetrieverSettings(data_dir=tmp_path_factory.mktemp("retriever"))
    async with running(create_retriever(settings)) as target:
        yield target


@pytest.fixture(scope="session")
async def generator_target():
    async with running(create_generator(GeneratorSettings(mock_response=MOCK_ANSWER))) as target:
        yield target


@pytest.fixture(scope="session")
async def suite(redis_url, embedder_target, retriever_target, generator_target, tmp_path_factory) -> Suite:
    settings = IngestSettings(
        data_dir=tmp_path_factory.mktemp("ingest"),
        embedder_target=embedder_target,
        retriever_target=retriever_target,
        redis_url=redis_url,
    )
    async with running(create_ingest(settings)) as ingest_target:
        yield Suite(
            redis_url,
            embedder_target,
            retriever_target,
            generator_target,
            ingest_target,
            tmp_path_factory.mktemp("gateway"),
        )


@pytest.fixture(scope="session")
async def api(suite: Suite) -> httpx.AsyncClient:
    async with gateway(suite.gateway_settings()) as client:
        yield client
