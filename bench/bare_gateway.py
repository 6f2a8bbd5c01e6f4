"""A bare gateway, for bench/floors.py only: the least any Python gateway must do for a search or a cached answer,
with no framework and none of ragmesh's other work (no authentication, tiers, steering, ledger, interactions, logs,
metrics or tracing). Plain ASGI under uvicorn with httptools and uvloop, as the real gateway runs.

- POST /search {"query"}: the shared admission (ragmesh's own RateLimiter, one Redis round trip), a retrieval-cache
  GET, Embed, Search (hybrid, top 10), the hits as JSON, the cache SET after the response;
- POST /hit {"question"}: the admission, then the answer cached under the question's hash, as stored bytes;
- GET /healthz: the HTTP floor.

Configured by BARE_REDIS_PORT, BARE_EMBEDDER_PORT, BARE_RETRIEVER_PORT and BARE_TENANT.
"""

import hashlib
import json
import os

import grpc
import redis.asyncio as redis

from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from ragmesh.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from services.gateway.identity import Principal
from services.gateway.ratelimits import LimitPolicy, RateLimiter
from services.runtime.background import Background

UNLIMITED = ["1000000/minute"]
TENANT = os.environ.get("BARE_TENANT", "bench")
CALLER = Principal(tenant=TENANT, via="api-key", key_id="bare")


def answer_key(question: str) -> str:
    """Where /hit finds the answer to `question` (bench/floors.py stores it there)."""
    return f"bare:answer:{hashlib.sha256(question.encode()).hexdigest()}"


class _Parts:
    """Clients opened on the first request, in the server's event loop."""

    def __init__(self) -> None:
        self.redis = redis.Redis(port=int(os.environ["BARE_REDIS_PORT"]))
        self.limiter = RateLimiter(
            self.redis, LimitPolicy(caller={"search": UNLIMITED, "answer": UNLIMITED}, tenant_in_flight=1000)
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{os.environ['BARE_EMBEDDER_PORT']}")
        self.embedder = embedder_pb2_grpc.EmbedderServiceStub(channel)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{os.environ['BARE_RETRIEVER_PORT']}")
        self.retriever = retriever_pb2_grpc.RetrieverServiceStub(channel)
        self.background = Background()

    async def search(self, query: str) -> bytes:
        key = f"bare:retrieval:{hashlib.sha256(query.encode()).hexdigest()}"
        cached = await self.redis.get(key)
        if cached is not None:
            return cached
        embedded = await self.embedder.Embed(
            embedder_pb2.EmbedRequest(texts=[query], kind=embedder_pb2.INPUT_KIND_QUERY)
        )
        found = await self.retriever.Search(
            retriever_pb2.SearchRequest(
                tenant=TENANT,
                text=query,
                dense=embedded.vectors[0].values,
                top_k=10,
                mode=retriever_pb2.SEARCH_MODE_HYBRID,
                viewer=retriever_pb2.Viewer(everything=True),
                omit_sentence_vectors=True,
            )
        )
        hits = [
            {"document_id": h.chunk.document_id, "title": h.chunk.title, "text": h.chunk.text, "score": h.score}
            for h in found.hits
        ]
        body = json.dumps({"hits": hits}).encode()
        self.background.spawn(self.redis.set(key, body, ex=300))
        return body


_parts: _Parts | None = None


async def app(scope, receive, send) -> None:
    global _parts
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/healthz":
        out = b'{"status":"ok"}'
    else:
        parts = _parts = _parts or _Parts()
        asked = json.loads(body)
        search = scope["path"] == "/search"
        ticket = await parts.limiter.admit(CALLER, "search" if search else "answer")
        try:
            out = await parts.search(asked["query"]) if search else await parts.redis.get(answer_key(asked["question"]))
        finally:
            parts.background.spawn(parts.limiter.release(ticket))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": out or b"null"})
