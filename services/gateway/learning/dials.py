"""A tenant's dials: learned from its contrastive pairs (embedded by the embedder, as passages), stored in the
gateway's database with their held-out accuracy, and held in each replica's memory for `keep_seconds` (a dial this
replica changes is seen at once; one changed elsewhere within `keep_seconds`)."""

import secrets
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, select

from ragmesh.embedder.v1 import embedder_pb2_grpc
from services.gateway.learning.held import Held
from services.gateway.learning.steering import Dial, direction, held_out_accuracy
from services.gateway.learning.vectors import embed_passages
from services.gateway.learning_models import DialInfo, LearnDialRequest
from services.gateway.records.database import Database
from services.gateway.records.models import DialRecord
from services.runtime.errors import NotFound


def _info(row: DialRecord) -> DialInfo:
    return DialInfo(
        name=row.name,
        revision=row.revision,
        description=row.description,
        pairs=row.pairs,
        held_out_pairs=row.held_out_pairs,
        held_out_accuracy=row.held_out_accuracy,
        model=row.model,
        created_at=row.created_at.isoformat(),
        created_by=row.created_by,
    )


class Dials:
    """Learns, lists, deletes and serves the tenant's dials."""

    def __init__(
        self, database: Database, embedder: embedder_pb2_grpc.EmbedderServiceStub, timeout: float, keep_seconds: float
    ) -> None:
        self._db = database
        self._embedder = embedder
        self._timeout = timeout
        self._held: Held[str, dict[str, Dial]] = Held(keep_seconds)

    async def learn(self, tenant: str, name: str, request: LearnDialRequest, actor: str) -> DialInfo:
        """Learn (or re-learn) the dial `name` from the request's pairs; its accuracy is measured on held-out pairs
        (5-fold) before the whole set is used."""
        texts = [text for pair in request.pairs for text in (pair.positive, pair.negative)]
        vectors, model = await embed_passages(self._embedder, texts, self._timeout)
        positives, negatives = vectors[0::2], vectors[1::2]
        learned = direction(positives, negatives)
        held_out, accuracy = held_out_accuracy(positives, negatives)
        async with self._db.session() as session:
            row = await session.get(DialRecord, (tenant, name)) or DialRecord(tenant=tenant, name=name)
            row.revision = secrets.token_hex(8)
            row.model, row.dimension, row.vector = model, int(learned.shape[0]), learned.tobytes()
            row.pairs, row.held_out_pairs, row.held_out_accuracy = len(request.pairs), held_out, accuracy
            row.description, row.created_at, row.created_by = request.description, datetime.now(UTC), actor
            session.add(row)
        self._held.forget(tenant)
        return _info(row)

    async def listed(self, tenant: str) -> list[DialInfo]:
        async with self._db.session() as session:
            rows = await session.scalars(
                select(DialRecord).where(DialRecord.tenant == tenant).order_by(DialRecord.name)
            )
            return [_info(row) for row in rows]

    async def delete(self, tenant: str, name: str) -> None:
        async with self._db.session() as session:
            gone = await session.execute(delete(DialRecord).where(DialRecord.tenant == tenant, DialRecord.name == name))
        self._held.forget(tenant)
        if not gone.rowcount:
            raise NotFound(f"no dial {name!r} in this tenant")

    async def of(self, tenant: str) -> dict[str, Dial]:
        """The tenant's dials by name, from memory when read less than `keep_seconds` ago."""

        async def load() -> dict[str, Dial]:
            async with self._db.session() as session:
                rows = await session.scalars(select(DialRecord).where(DialRecord.tenant == tenant))
                return {
                    row.name: Dial(row.name, row.revision, np.frombuffer(row.vector, dtype=np.float32).copy())
                    for row in rows
                }

        return await self._held.get(tenant, load)
