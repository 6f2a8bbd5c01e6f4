"""Service-to-service authentication over real gRPC: tokens and mutual TLS with certificates made here, against a
real retriever. Unauthenticated callers get nothing but health."""

import datetime
import ipaddress

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from ragmesh.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from ragmesh.suite import free_port
from services.gateway.config import GatewaySettings
from services.retriever.config import RetrieverSettings
from services.retriever.server import create_server
from services.runtime.channels import open_channel
from tests.servers import running

STATS = retriever_pb2.GetStatsRequest(tenant="acme")


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(common: str, issuer: tuple | None, ca: bool = False):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    signer_key, signer_name = issuer if issuer else (key, _name(common))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(signer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return key, builder.sign(signer_key, hashes.SHA256())


def _write(directory, name: str, key, cert, ca_cert) -> dict[str, object]:
    paths = {kind: directory / f"{name}.{kind}" for kind in ("key", "crt", "ca")}
    paths["key"].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    paths["crt"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return {"tls_key_file": paths["key"], "tls_cert_file": paths["crt"], "tls_ca_file": paths["ca"]}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA with certificates for the retriever, the gateway and the ingest service; a rogue CA's gateway."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _certificate("ragmesh-ca", None, ca=True)
    rogue_key, rogue_cert = _certificate("rogue-ca", None, ca=True)
    made = {}
    for name in ("retriever", "gateway", "ingest"):
        key, cert = _certificate(name, (ca_key, ca_cert.subject))
        made[name] = _write(directory, name, key, cert, ca_cert)
    key, cert = _certificate("gateway", (rogue_key, rogue_cert.subject))
    made["rogue"] = _write(directory, "rogue", key, cert, ca_cert)
    return made


async def _refused(call) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return refused.value.code()


async def test_token_mode_accepts_listed_peers_only_and_keeps_health_open(tmp_path):
    settings = RetrieverSettings(
        data_dir=tmp_path, peer_auth="token", peer_tokens={"gateway": "t-gateway", "ingest": "t-ingest"}
    )
    async with running(create_server(settings)) as target:
        gateway = GatewaySettings(peer_auth="token", peer_token="t-gateway")
        async with open_channel(target, gateway) as channel:
            reply = await retriever_pb2_grpc.RetrieverServiceStub(channel).GetStats(STATS, timeout=5)
            assert reply.backend == "qdrant-edge"
        for token in (None, "t-wrong", "t-gatewayx", ""):
            caller = GatewaySettings(peer_auth="token", peer_token=token) if token is not None else None
            async with open_channel(target, caller) as channel:
                code = await _refused(retriever_pb2_grpc.RetrieverServiceStub(channel).GetStats(STATS, timeout=5))
                assert code == grpc.StatusCode.UNAUTHENTICATED
        async with grpc.aio.insecure_channel(target) as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            # Reflection would map the whole internal API for anyone: peers only.
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await anext(aiter(reflection.ServerReflectionInfo(iter([request]), timeout=5)))
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_mtls_mode_needs_a_certificate_from_the_ca_and_a_listed_name(tmp_path, pki):
    health_port = free_port()
    settings = RetrieverSettings(
        data_dir=tmp_path, peer_auth="mtls", peer_names=["gateway"], health_port=health_port, **pki["retriever"]
    )
    async with running(create_server(settings)) as target:
        target = target.replace("127.0.0.1", "localhost")
        async with open_channel(target, GatewaySettings(peer_auth="mtls", **pki["gateway"])) as channel:
            assert (await retriever_pb2_grpc.RetrieverServiceStub(channel).GetStats(STATS, timeout=5)).chunks == 0
        # A certificate from the same CA, but a name the retriever does not accept.
        async with open_channel(target, GatewaySettings(peer_auth="mtls", **pki["ingest"])) as channel:
            code = await _refused(retriever_pb2_grpc.RetrieverServiceStub(channel).GetStats(STATS, timeout=5))
            assert code == grpc.StatusCode.UNAUTHENTICATED
        # The right name signed by another CA, and no TLS at all: the handshake fails.
        for caller in (GatewaySettings(peer_auth="mtls", **pki["rogue"]), None):
            async with open_channel(target, caller) as channel:
                code = await _refused(retriever_pb2_grpc.RetrieverServiceStub(channel).GetStats(STATS, timeout=3))
                assert code == grpc.StatusCode.UNAVAILABLE
        # The kubelet's probe reaches health on the plaintext health port, and nothing else there.
        async with grpc.aio.insecure_channel(f"127.0.0.1:{health_port}") as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            code = await _refused(retriever_pb2_grpc.RetrieverServiceStub(channel).GetStats(STATS, timeout=5))
            assert code == grpc.StatusCode.UNIMPLEMENTED
