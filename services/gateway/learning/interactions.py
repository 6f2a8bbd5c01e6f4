"""Every answer (query, stream, search, verify) gets an answer id and one row in the interactions table: who asked
(a pseudonym), the question (or only its hash, as the tenant chooses), the filters, the passages retrieved and cited
with their scores, the answer and its confidence flags, the model, prompt version, variant and steering that
produced it, the timings and the cost. Rows are written after the response leaves (records/batched.py)."""

import functools
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TypeVar

from prometheus_client import Counter
from pydantic import SecretStr
from sqlalchemy import insert, select

from services.gateway.budgets import MICRO
from services.gateway.identity import Principal
from services.gateway.learning.snapshots import snapshot
from services.gateway.learning.steering import Steering
from services.gateway.models import QueryResponse, SearchResponse, VerifyResponse
from services.gateway.records.database import Database
from services.gateway.records.models import Interaction
from services.records.batched import BatchedWrites

UNWRITTEN = Counter("ragmesh_gateway_interactions_failed_total", "Answers the interaction log could not record.")
Answered = QueryResponse | SearchResponse | VerifyResponse
R = TypeVar("R", QueryResponse, SearchResponse, VerifyResponse)


def new_answer_id() -> str:
    return f"ans_{uuid.uuid4().hex}"


def pseudonym(caller: Principal, secret: SecretStr | None) -> str:
    """Who asked, as the records keep it: a keyed hash of tenant and user (or key), never the name itself."""
    return _keyed_hash(
        secret.get_secret_value() if secret else "", caller.tenant, caller.user or caller.spender or "tenant"
    )


@functools.lru_cache(maxsize=4096)
def _keyed_hash(secret: str, tenant: str, who: str) -> str:
    # A request asks for its asker's pseudonym two or three times, and the same askers come back.
    key = secret.encode() if secret else b"ragmesh-interactions"
    return hmac.new(key, f"{tenant}\0{who}".encode(), hashlib.sha256).hexdigest()[:32]


def question_hash(tenant: str, question: str) -> str:
    return hashlib.sha256(f"{tenant}\0{' '.join(question.lower().split())}".encode()).hexdigest()


def _passages(response: Answered) -> list[dict[str, object]]:
    """The passages the answer was given (or the hits a search returned), numbered as the response numbers them,
    with their text as shown: what feedback and labels judge, and what training and per-user vectors learn from."""
    if isinstance(response, SearchResponse):
        shown = [
            (n, h.document_id, h.chunk_index, h.score, False, h.text, h.title, h.heading_path)
            for n, h in enumerate(response.hits, 1)
        ]
    else:
        shown = [
            (c.index, c.document_id, c.chunk_index, c.score, c.cited, c.text, c.title, c.heading_path)
            for c in response.citations
        ]
    keys = ("index", "document_id", "chunk_index", "score", "cited", "text", "title", "heading_path")
    return [dict(zip(keys, passage, strict=True)) for passage in shown]


class InteractionLog:
    """Records answers; finds one again for feedback and review."""

    def __init__(
        self, database: Database, secret: SecretStr | None, hashed_tenants: list[str], review_below: float
    ) -> None:
        self._db = database
        self._secret = secret
        self._hashed = set(hashed_tenants)
        self._review_below = review_below
        self._writes = BatchedWrites(self._insert, "interaction log", UNWRITTEN)

    def note(self, caller: Principal, route: str, question: str, response: R, steering: Steering) -> R:
        """The response with a fresh answer id (a cached answer gets its own), its row queued for writing."""
        response = response.model_copy(update={"answer_id": new_answer_id()})
        tenant = caller.tenant
        confidence = None if isinstance(response, SearchResponse) else response.confidence
        confused = getattr(response, "is_confused", False)
        answer = getattr(response, "answer", "") or getattr(response, "verdict", "") or ""
        self._writes.add(
            {
                "id": response.answer_id,
                "at": datetime.now(UTC),
                "tenant": tenant,
                "user": pseudonym(caller, self._secret),
                "route": route,
                "question": None if tenant in self._hashed else question,
                "question_hash": question_hash(tenant, question),
                "filters": response.filters_applied,
                "passages": _passages(response),
                "answer": answer,
                "confidence": confidence,
                "no_context": getattr(response, "no_context", False),
                "is_confused": confused,
                "degraded": getattr(response, "degraded", False),
                "cached": {True: "exact", "semantic": "semantic"}.get(getattr(response, "cached", False), ""),
                "model": getattr(response, "model", ""),
                "prompt_version": getattr(response, "prompt_version", ""),
                "variant": getattr(response, "variant", ""),
                "steering": steering.record(),
                "adapter": steering.adapter,
                "timings_ms": response.timings_ms,
                "cost_micro_usd": round(response.usage.cost_usd * MICRO),
                "needs_review": confused or (confidence is not None and confidence < self._review_below),
            }
        )
        return response

    async def _insert(self, rows: list[dict[str, object]]) -> None:
        async with self._db.session() as session:
            await session.execute(insert(Interaction), rows)

    async def flush(self) -> None:
        await self._writes.flush()

    async def snapshot(
        self, tenant: str, since: datetime, until: datetime, labelled_only: bool
    ) -> AsyncIterator[dict[str, object]]:
        """The window's answers with their feedback and labels (learning/snapshots.py), queued ones included."""
        await self.flush()
        async for row in snapshot(self._db, tenant, since, until, labelled_only):
            yield row

    async def find(self, tenant: str, answer_id: str) -> Interaction | None:
        """The tenant's answer with this id (rows still queued are written first)."""
        await self.flush()
        async with self._db.session() as session:
            return await session.scalar(
                select(Interaction).where(Interaction.id == answer_id, Interaction.tenant == tenant)
            )
