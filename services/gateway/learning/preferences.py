"""Per-user vectors: a user's own feedback (passages marked relevant or not, and the thumbs on what an answer cited)
adds the judged passages' vectors to sums of theirs; once they have judged enough, their questions are moved along
the difference between what they liked and what they did not (or towards what they liked, when they disliked
nothing), with a bounded weight. Only the asker's own feedback on their own answers counts; the vector is read only
for its owner (tenant and pseudonym are its key), and they can see and reset it (/v1/me/preferences)."""

import logging
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from ragmesh.embedder.v1 import embedder_pb2_grpc
from services.gateway.learning.held import Held
from services.gateway.learning.vectors import embed_passages
from services.gateway.learning_models import FeedbackRequest, Preferences
from services.gateway.records.database import Database
from services.gateway.records.models import Interaction, UserVector

log = logging.getLogger(__name__)


def judged(interaction: Interaction, request: FeedbackRequest) -> tuple[list[str], list[str]]:
    """The texts of the passages the feedback likes and dislikes: those marked, and the cited ones under a thumb."""
    cited = {p["index"] for p in interaction.passages if p["cited"]}
    liked, disliked = set(request.relevant), set(request.not_relevant)
    if request.thumb == "up":
        liked |= cited - disliked
    elif request.thumb == "down":
        disliked |= cited - liked
    texts = {p["index"]: p.get("text", "") for p in interaction.passages}
    return [texts[n] for n in sorted(liked) if texts[n]], [texts[n] for n in sorted(disliked) if texts[n]]


def leaning(liked_sum: np.ndarray, disliked_sum: np.ndarray, liked: int, disliked: int) -> np.ndarray | None:
    """The unit direction a user's judgements point to (from the sums of the vectors they liked and disliked), or
    None when they cancel out."""
    liked_mean, disliked_mean = liked_sum / max(liked, 1), disliked_sum / max(disliked, 1)
    towards = liked_mean - disliked_mean if liked and disliked else liked_mean if liked else -disliked_mean
    norm = float(np.linalg.norm(towards))
    return (towards / norm).astype(np.float32) if norm > 1e-6 else None


def preference(row: UserVector) -> np.ndarray | None:
    liked_sum = np.frombuffer(row.liked_sum, dtype=np.float32)
    return leaning(liked_sum, np.frombuffer(row.disliked_sum, dtype=np.float32), row.liked, row.disliked)


class UserPreferences:
    """Learns per-user vectors from feedback and serves each to its owner."""

    def __init__(
        self,
        database: Database,
        embedder: embedder_pb2_grpc.EmbedderServiceStub,
        timeout: float,
        keep_seconds: float,
        least_judged: int,
    ) -> None:
        self._db = database
        self._embedder = embedder
        self._timeout = timeout
        self._least = least_judged
        self._held: Held[tuple[str, str], tuple[np.ndarray, int] | None] = Held(keep_seconds)

    async def learn(self, tenant: str, user: str, liked: list[str], disliked: list[str]) -> None:
        if not liked and not disliked:
            return
        vectors, _ = await embed_passages(self._embedder, liked + disliked, self._timeout)
        liked_vectors, disliked_vectors = vectors[: len(liked)], vectors[len(liked) :]
        async with self._db.session() as session:
            row = await session.scalar(
                select(UserVector).where(UserVector.tenant == tenant, UserVector.user == user).with_for_update()
            )
            if row is None:
                zero = np.zeros(vectors.shape[1], dtype=np.float32).tobytes()
                row = UserVector(tenant=tenant, user=user, liked_sum=zero, disliked_sum=zero, liked=0, disliked=0)
                row.revision = 0
                session.add(row)
            row.liked_sum = (np.frombuffer(row.liked_sum, dtype=np.float32) + liked_vectors.sum(axis=0)).tobytes()
            row.disliked_sum = (
                np.frombuffer(row.disliked_sum, dtype=np.float32) + disliked_vectors.sum(axis=0)
            ).tobytes()
            row.liked, row.disliked = row.liked + len(liked), row.disliked + len(disliked)
            row.revision, row.updated_at = row.revision + 1, datetime.now(UTC)
        self._held.forget((tenant, user))

    async def vector(self, tenant: str, user: str) -> tuple[np.ndarray, int] | None:
        """The user's unit direction and its revision, once they judged at least `least_judged` passages."""

        async def load() -> tuple[np.ndarray, int] | None:
            async with self._db.session() as session:
                row = await session.get(UserVector, (tenant, user))
            if row is None or row.liked + row.disliked < self._least:
                return None
            direction = preference(row)
            return (direction, row.revision) if direction is not None else None

        try:
            return await self._held.get((tenant, user), load)
        except (OperationalError, SQLAlchemyTimeoutError) as exc:
            # Personalization is a lean, never a reason to fail: without the database, questions go unleaned.
            log.warning("per-user vectors unavailable (%s); answering without them", type(exc).__name__)
            return None

    async def describe(self, tenant: str, user: str) -> Preferences:
        async with self._db.session() as session:
            row = await session.get(UserVector, (tenant, user))
        liked, disliked = (row.liked, row.disliked) if row else (0, 0)
        return Preferences(
            liked=liked,
            disliked=disliked,
            applied=await self.vector(tenant, user) is not None,
            needed=self._least,
            updated_at=row.updated_at.isoformat() if row else None,
        )

    async def reset(self, tenant: str, user: str) -> None:
        async with self._db.session() as session:
            await session.execute(delete(UserVector).where(UserVector.tenant == tenant, UserVector.user == user))
        self._held.forget((tenant, user))
