"""Client-side load balancing as in Kubernetes: one DNS name with an A record per ready replica (a headless
Service), and our channel options (round_robin, re-resolution). A real DNS server on loopback, real gRPC."""

import asyncio
import contextlib
import socket
from collections import Counter

import grpc
import pytest
from dnslib import QTYPE, RR, A
from dnslib.server import BaseResolver, DNSServer

from ragmesh.generator.v1 import generator_pb2, generator_pb2_grpc
from services.runtime.channels import SERVER_OPTIONS, open_channel

NAME = "generator-headless.ragmesh.svc.cluster.local."


class Records(BaseResolver):
    """Answers NAME with the current replica addresses, as cluster DNS does for a headless Service."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses

    def resolve(self, request, handler):
        reply = request.reply()
        if str(request.q.qname) == NAME and request.q.qtype == QTYPE.A:
            for address in self.addresses:
                reply.add_answer(RR(NAME, QTYPE.A, rdata=A(address), ttl=1))
        return reply


class Replica(generator_pb2_grpc.GeneratorServiceServicer):
    """Answers with its own address, so the test can count which replica served each call."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def Generate(self, request, context):
        return generator_pb2.GenerateResponse(model=self.address)


def _shared_free_port(addresses: list[str]) -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        try:
            for address in addresses[1:]:
                with socket.socket() as other:
                    other.bind((address, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port free on every replica address")


async def _replica(address: str, port: int, options: list) -> grpc.aio.Server:
    server = grpc.aio.server(options=options)
    generator_pb2_grpc.add_GeneratorServiceServicer_to_server(Replica(address), server)
    server.add_insecure_port(f"{address}:{port}")
    await server.start()
    return server


@pytest.fixture
def dns():
    records = Records([])
    server = DNSServer(records, address="127.0.0.1", port=0)
    server.start_thread()
    yield records, server.server.server_address[1]
    server.stop()


async def _spread(stub, calls: int) -> Counter:
    replies = await asyncio.gather(
        *(stub.Generate(generator_pb2.GenerateRequest(question="q"), timeout=5) for _ in range(calls))
    )
    return Counter(reply.model for reply in replies)


@contextlib.asynccontextmanager
async def dialled(dns_port: int, port: int):
    """A stub over our production channel options, dialling the name through the test DNS server, with
    every subchannel connected (the first calls go out while connections are still being made)."""
    async with open_channel(f"dns://127.0.0.1:{dns_port}/{NAME.rstrip('.')}:{port}") as channel:
        stub = generator_pb2_grpc.GeneratorServiceStub(channel)
        await channel.channel_ready()
        await _spread(stub, 30)
        yield stub


async def test_calls_over_one_name_spread_evenly_across_every_replica(dns):
    records, dns_port = dns
    addresses = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    records.addresses = list(addresses)
    port = _shared_free_port(addresses)
    servers = [await _replica(address, port, SERVER_OPTIONS) for address in addresses]
    try:
        async with dialled(dns_port, port) as stub:
            share = await _spread(stub, 600)
        print(f"split of 600 calls over 3 replicas: {dict(share)}")
        assert set(share) == set(addresses), share
        # round_robin: each replica gets a third, give or take a few calls.
        assert max(share.values()) - min(share.values()) <= 30, share
    finally:
        for server in servers:
            await server.stop(0)


async def test_a_new_replica_gets_traffic_once_connections_age_out_and_dns_is_resolved_again(dns):
    records, dns_port = dns
    first, added = ["127.0.0.2", "127.0.0.3"], "127.0.0.5"
    records.addresses = list(first)
    port = _shared_free_port([*first, added])
    # Servers close connections after 2 s (production: 5 min), which makes clients re-resolve the name.
    aging = [o for o in SERVER_OPTIONS if not o[0].startswith("grpc.max_connection_age")]
    aging += [("grpc.max_connection_age_ms", 2000), ("grpc.max_connection_age_grace_ms", 500)]
    servers = [await _replica(address, port, aging) for address in first]
    try:
        async with dialled(dns_port, port) as stub:
            assert set(await _spread(stub, 60)) == set(first)
            servers.append(await _replica(added, port, aging))
            records.addresses = [*first, added]
            seen: Counter = Counter()
            for _ in range(40):
                await asyncio.sleep(0.5)
                seen = await _spread(stub, 30)
                if added in seen:
                    break
        assert added in seen, f"the new replica never got a call: {seen}"
    finally:
        for server in servers:
            await server.stop(0)
