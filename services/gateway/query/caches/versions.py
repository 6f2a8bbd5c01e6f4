"""Each tenant's corpus version, from its truth: the ingest catalogue, kept in this replica's memory while ingest
announces every change (services/ingest/announcements.py) and this replica hears the announcements."""

import asyncio
import logging
import time

import grpc
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.runtime import stores

log = logging.getLogger(__name__)
# The ingest calls that change nothing; any other one forwarded by this replica may move a tenant's version.
READS = {"GetDocument", "GetDocumentText", "ListDocuments", "GetMetadataSchema", "GetCorpusVersion", "GetJob"}
READS |= {"ListQuarantine", "ListAudit"}


class CorpusVersions:
    """The catalogue changes a tenant's version in the same transaction as any change to its documents, their
    permissions or its schema, so a cache keyed on it never serves an entry from before a change.

    Asking the catalogue costs a gRPC round trip and a query per question; so a version is kept here for up to
    `keep_seconds`, but only while it can be trusted: the ingest service said it announces its changes, this replica
    is subscribed to them (a lost subscription forgets everything and asks again until it is back), and no change
    was heard of or forwarded since it was asked for. A change that reaches the catalogue while Redis cannot carry
    its announcement is still seen by the replica that forwarded it at once, and by the others within
    `keep_seconds` at most. `keep_seconds` 0 asks for every question."""

    def __init__(self, timeout_seconds: float, keep_seconds: float) -> None:
        self.ingest: ingest_pb2_grpc.IngestServiceStub | None = None
        self._timeout = timeout_seconds
        self._keep = keep_seconds
        self._known: dict[str, tuple[str, float]] = {}
        self._moves = 0
        self._listening = False
        self._listener: asyncio.Task | None = None

    @property
    def listening(self) -> bool:
        """Whether this replica hears ingest's announcements now (else it asks for every question)."""
        return self._listening

    async def current(self, tenant: str) -> str:
        """The version, or "" when the catalogue cannot say (then nothing is cached or served from a cache)."""
        known = self._known.get(tenant)
        if known is not None and self._listening and time.monotonic() - known[1] < self._keep:
            return known[0]
        moves = self._moves
        try:
            reply = await self.ingest.GetCorpusVersion(  # type: ignore[union-attr]
                ingest_pb2.GetCorpusVersionRequest(tenant=tenant), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("corpus version unavailable (%s); answering without caches", exc.code().name)
            return ""
        if reply.announced and self._listening and moves == self._moves and self._keep > 0:
            self._known[tenant] = (reply.version, time.monotonic())
        return reply.version

    def forget(self, tenant: str | None = None) -> None:
        """A change of `tenant` (None: anyone's) was heard of or forwarded; a version asked for before is not kept."""
        self._moves += 1
        if tenant is None:
            self._known.clear()
        else:
            self._known.pop(tenant, None)

    def listen(self, url: str, password: SecretStr | None, connect_timeout: float) -> None:
        """Subscribe to ingest's announcements (for as long as the process runs; reconnects on its own)."""
        if self._keep > 0 and self._listener is None:
            self._listener = asyncio.create_task(self._listen(url, password, connect_timeout))

    async def _listen(self, url: str, password: SecretStr | None, connect_timeout: float) -> None:
        # Its own client: a subscription waits on the socket without end, which the shared clients' timeouts and
        # circuit breaker would count as a failing Redis.
        secret = password.get_secret_value() if password else None
        client = Redis.from_url(url, password=secret, socket_connect_timeout=connect_timeout)
        pause = 0.1
        try:
            while True:
                try:
                    async with client.pubsub() as pubsub:
                        await pubsub.subscribe(stores.CORPUS_CHANGES)
                        async for message in pubsub.listen():
                            if message["type"] == "subscribe":
                                self._listening, pause = True, 0.1
                            elif message["type"] == "message":
                                self.forget(message["data"].decode())
                except (RedisError, OSError) as exc:
                    log.warning("corpus announcements unavailable (%s); asking for versions meanwhile", exc)
                self._listening = False
                self.forget()
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
        finally:
            self._listening = False
            await client.aclose()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)

    def interceptor(self) -> grpc.aio.UnaryUnaryClientInterceptor:
        """For the ingest channel: forgets the tenant's version when a change is forwarded and again once it is done."""
        return _ForgetOnWrite(self)


class _ForgetOnWrite(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, versions: CorpusVersions) -> None:
        self._versions = versions

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        method = client_call_details.method
        name = (method.decode() if isinstance(method, bytes) else method).rsplit("/", 1)[-1]
        if name in READS:
            return await continuation(client_call_details, request)
        tenant = getattr(request, "tenant", None) or None
        self._versions.forget(tenant)
        call = await continuation(client_call_details, request)
        call.add_done_callback(lambda _: self._versions.forget(tenant))
        return call
