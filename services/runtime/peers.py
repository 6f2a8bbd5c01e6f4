"""Service-to-service authentication: who may call an internal gRPC service, and how a caller proves it is one.

Three modes, chosen by configuration (`RAGMESH_<SERVICE>_PEER_AUTH`):
- `none`: plaintext, anyone who reaches the port (one machine, loopback only);
- `token`: each service sends its own bearer token in the call metadata; a callee accepts the tokens of the
  peers it lists (`peer_tokens`, name -> token) and nothing else;
- `mtls`: TLS both ways with certificates from one CA (cert-manager or Secrets); a callee accepts a client
  certificate that CA signed, and, when `peer_names` lists any, only those common names.
Health checks stay open (the kubelet's gRPC probe carries no credentials); everything else, reflection included,
needs a peer. A request's tenant field is trusted because only authenticated peers can send one.
"""

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc

from services.runtime.errors import Unauthenticated
from services.runtime.settings import ServiceSettings

_OPEN_PREFIX = "/grpc.health.v1.Health/"
_HEADER = "authorization"


def _tls_files(settings: ServiceSettings) -> tuple[bytes, bytes, bytes]:
    """This service's private key and certificate, and the CA's certificate (mounted from a Secret)."""
    return tuple(Path(p).read_bytes() for p in (settings.tls_key_file, settings.tls_cert_file, settings.tls_ca_file))


def server_credentials(settings: ServiceSettings) -> grpc.ServerCredentials | None:
    """TLS credentials that demand a client certificate (mtls), or None for a plaintext port."""
    if settings.peer_auth != "mtls":
        return None
    key, cert, ca = (
        Path(p).read_bytes() for p in (settings.tls_key_file, settings.tls_cert_file, settings.tls_ca_file)
    )
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)


def channel_credentials(settings: ServiceSettings) -> grpc.ChannelCredentials | None:
    """The client side of mtls: our certificate, and the CA the callee's must chain to."""
    if settings.peer_auth != "mtls":
        return None
    key, cert, ca = (
        Path(p).read_bytes() for p in (settings.tls_key_file, settings.tls_cert_file, settings.tls_ca_file)
    )
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def peer_guard(settings: ServiceSettings):
    """A guard for GuardInterceptor that refuses calls from anyone but an authenticated peer; None in `none`."""
    if settings.peer_auth == "none":
        return None
    accepted = {name: token.get_secret_value().encode() for name, token in settings.peer_tokens.items()}
    names = set(settings.peer_names)

    def identify(context: grpc.aio.ServicerContext) -> str | None:
        if settings.peer_auth == "mtls":
            common = [n.decode() for n in context.auth_context().get("x509_common_name", [])]
            return next((n for n in common if not names or n in names), None)
        presented = dict(context.invocation_metadata() or ()).get(_HEADER, "")
        token = presented.removeprefix("Bearer ").encode()
        found = None
        # Every token is compared, in constant time, so timing does not tell which one nearly matched.
        for name, expected in accepted.items():
            if token and hmac.compare_digest(token, expected):
                found = name
        return found

    @asynccontextmanager
    async def guard(method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        if not method.startswith(_OPEN_PREFIX) and identify(context) is None:
            raise Unauthenticated(f"{method} needs an authenticated peer ({settings.peer_auth})")
        yield

    return guard


class _TokenInterceptor(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    """Adds this service's token to every call (plaintext channels take no call credentials, so metadata)."""

    def __init__(self, token: str) -> None:
        self._metadata = (_HEADER, f"Bearer {token}")

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), self._metadata)
        return details._replace(metadata=metadata)

    async def intercept_unary_unary(self, continuation, details, request) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_unary_stream(self, continuation, details, request) -> Any:
        return await continuation(self._details(details), request)


def client_interceptors(settings: ServiceSettings) -> list[grpc.aio.ClientInterceptor]:
    if settings.peer_auth == "token" and settings.peer_token is not None:
        return [_TokenInterceptor(settings.peer_token.get_secret_value())]
    return []
