"""The tenant's adapter versions: listed, served to everyone or to a sticky canary share of users, rolled back; and
the matrix each user's questions go through, held in each replica's memory for `keep_seconds` (a change made on this
replica is seen at once)."""

import hashlib
import logging
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from services.gateway.learning.artifacts import AdapterArtifacts
from services.gateway.learning.figures import version_figures
from services.gateway.learning.held import Held
from services.gateway.learning_models import AdapterArtifact, AdapterInfo, VersionFigures
from services.gateway.records.database import Database
from services.gateway.records.models import AdapterRecord
from services.runtime.errors import FailedPrecondition, NotFound

log = logging.getLogger(__name__)
SERVED = ("serving", "canary")


def adapter_info(row: AdapterRecord) -> AdapterInfo:
    return AdapterInfo(
        version=row.version,
        status=row.status,
        progress=row.progress,
        model=row.model,
        splits={name: len(ids) for name, ids in row.splits.items()},
        snapshot=row.snapshot,
        scores=row.scores,
        reasons=list(row.reasons),
        share=row.share,
        created_at=row.created_at.isoformat(),
        created_by=row.created_by,
        served_at=row.served_at.isoformat() if row.served_at else None,
        artifact=row.artifact or None,
    )


def adapter_matrix(row: AdapterRecord | None) -> np.ndarray | None:
    """The matrix a version's record keeps (float32, dimension x dimension); None for no version."""
    return np.frombuffer(row.matrix, np.float32).reshape(row.dimension, -1) if row is not None else None


def bucket(user: str) -> float:
    """Where a user falls in [0, 1): the same for every request, so a canary user stays one."""
    return int(hashlib.sha256(user.encode()).hexdigest()[:8], 16) / 2**32


class Adapters:
    """The registry of versions and what each user is served."""

    def __init__(
        self,
        database: Database,
        artifacts: AdapterArtifacts,
        keep_seconds: float,
        canary_least_answers: int = 20,
        canary_most_extra: float = 0.1,
        abandoned_after_seconds: float = 3600.0,
    ) -> None:
        self._db = database
        self._artifacts = artifacts
        self._abandoned_after = timedelta(seconds=abandoned_after_seconds)
        self._least = canary_least_answers
        self._extra = canary_most_extra
        self._held: Held[str, list[tuple[int, float, np.ndarray]]] = Held(keep_seconds)

    async def _settle_abandoned(self, tenant: str) -> None:
        """Mark failed the versions still training long after they started: the replica training them stopped
        (a restart, a crash) and nothing else will finish them."""
        cutoff = datetime.now(UTC) - self._abandoned_after
        async with self._db.session() as session:
            await session.execute(
                update(AdapterRecord)
                .where(
                    AdapterRecord.tenant == tenant,
                    AdapterRecord.status == "training",
                    AdapterRecord.created_at < cutoff,
                )
                .values(status="failed", progress="abandoned: the replica training it stopped; train again")
            )

    async def listed(self, tenant: str) -> list[AdapterInfo]:
        await self._settle_abandoned(tenant)
        async with self._db.session() as session:
            rows = await session.scalars(
                select(AdapterRecord).where(AdapterRecord.tenant == tenant).order_by(AdapterRecord.version.desc())
            )
            return [adapter_info(row) for row in rows]

    async def get(self, tenant: str, version: int) -> AdapterInfo:
        await self._settle_abandoned(tenant)
        async with self._db.session() as session:
            row = await session.get(AdapterRecord, (tenant, version))
        if row is None:
            raise NotFound(f"no adapter version {version} in this tenant")
        return adapter_info(row)

    async def artifact(self, tenant: str, version: int) -> AdapterArtifact:
        """The version's manifest as the object store holds it."""
        info = await self.get(tenant, version)
        if info.artifact is None:
            raise NotFound(f"adapter version {version} has no stored artifact: it is {info.status}")
        try:
            manifest = await self._artifacts.manifest(tenant, version)
        except FileNotFoundError:
            raise NotFound(f"adapter version {version}: its artifact is missing from the object store") from None
        location = self._artifacts.store.location(f"{info.artifact}/manifest.json")
        return AdapterArtifact(location=location, manifest=manifest)

    async def serve(self, tenant: str, version: int, share: float) -> AdapterInfo:
        """Serve a version that passed the gate: to everyone (the one served before retires) or, with share < 1,
        to that share of users as a canary beside it (a previous canary retires)."""
        async with self._db.session() as session:
            rows = {
                row.version: row
                for row in await session.scalars(
                    select(AdapterRecord).where(AdapterRecord.tenant == tenant).with_for_update()
                )
            }
            chosen = rows.get(version)
            if chosen is None:
                raise NotFound(f"no adapter version {version} in this tenant")
            if chosen.status not in ("ready", "canary", "serving", "retired"):
                raise FailedPrecondition(
                    f"version {version} is {chosen.status}: only a version the gate passed is served"
                )
            replaced = "serving" if share >= 1 else "canary"
            for row in rows.values():
                if row.status == replaced and row.version != version:
                    row.status = "retired"
            chosen.status, chosen.share, chosen.served_at = replaced, min(share, 1.0), datetime.now(UTC)
            info = adapter_info(chosen)
        self._held.forget(tenant)
        return info

    async def rollback(self, tenant: str) -> list[AdapterInfo]:
        """Stop the canary if there is one; else put back the version served before the current one (or none)."""
        async with self._db.session() as session:
            rows = list(
                await session.scalars(
                    select(AdapterRecord)
                    .where(AdapterRecord.tenant == tenant)
                    .order_by(AdapterRecord.served_at.desc())
                    .with_for_update()
                )
            )
            canary = [row for row in rows if row.status == "canary"]
            serving = [row for row in rows if row.status == "serving"]
            if canary:
                changed = canary
                for row in canary:
                    row.status = "retired"
            elif serving:
                changed = serving
                serving[0].status = "retired"
                earlier = [row for row in rows if row.status == "retired" and row.served_at and row is not serving[0]]
                earlier = [row for row in earlier if row.share >= 1 and row.served_at < serving[0].served_at]
                if earlier:
                    earlier[0].status, earlier[0].served_at = "serving", datetime.now(UTC)
                    changed = [serving[0], earlier[0]]
            else:
                raise FailedPrecondition("nothing is served: there is nothing to roll back")
            infos = [adapter_info(row) for row in changed]
        self._held.forget(tenant)
        return infos

    async def figures(self, tenant: str) -> list[VersionFigures]:
        """Online figures of every version that answered (and of no adapter, version 0)."""
        async with self._db.session() as session:
            versions = list(await session.scalars(select(AdapterRecord.version).where(AdapterRecord.tenant == tenant)))
        return list((await version_figures(self._db, tenant, [0, *sorted(versions)])).values())

    async def guard_canary(self, tenant: str) -> AdapterInfo | None:
        """Roll the canary back when, over at least `canary_least_answers` of its answers, the share its askers
        disliked exceeds that of the version served beside it by more than `canary_most_extra`; the version that
        was rolled back, or None."""
        async with self._db.session() as session:
            rows = list(
                await session.scalars(
                    select(AdapterRecord).where(AdapterRecord.tenant == tenant, AdapterRecord.status.in_(SERVED))
                )
            )
        canary = next((row for row in rows if row.status == "canary"), None)
        if canary is None:
            return None
        base = next((row.version for row in rows if row.status == "serving"), 0)
        figures = await version_figures(self._db, tenant, [canary.version, base])
        mine, theirs = figures[canary.version], figures[base]
        if mine.answers < self._least or mine.negative_rate <= theirs.negative_rate + self._extra:
            return None
        reason = (
            f"rolled back automatically: {mine.negative_rate:.0%} of its {mine.answers} answers disliked, against "
            f"{theirs.negative_rate:.0%} of {theirs.answers} for {'version ' + str(base) if base else 'no adapter'}"
        )
        return await self.retire_canary(tenant, canary.version, reason)

    async def retire_canary(self, tenant: str, version: int, reason: str) -> AdapterInfo | None:
        """Stop serving canary `version`, the reason kept with it; None when it is no longer the canary."""
        async with self._db.session() as session:
            row = await session.get(AdapterRecord, (tenant, version))
            if row is None or row.status != "canary":
                return None
            row.status, row.reasons = "retired", [*row.reasons, reason]
            info = adapter_info(row)
        self._held.forget(tenant)
        log.warning("adapter %s v%d: %s", tenant, version, reason)
        return info

    async def served_rows(self, tenant: str) -> tuple[AdapterRecord | None, AdapterRecord | None]:
        """The version served to everyone and the canary, each when there is one."""
        async with self._db.session() as session:
            rows = list(
                await session.scalars(
                    select(AdapterRecord).where(AdapterRecord.tenant == tenant, AdapterRecord.status.in_(SERVED))
                )
            )
        pick = {row.status: row for row in rows}
        return pick.get("serving"), pick.get("canary")

    async def served_to(self, tenant: str, user: str) -> tuple[int, np.ndarray] | None:
        """The version (and matrix) this user's questions go through, or None: the embedder's vectors as they are."""

        async def load() -> list[tuple[int, float, np.ndarray]]:
            async with self._db.session() as session:
                rows = await session.scalars(
                    select(AdapterRecord).where(AdapterRecord.tenant == tenant, AdapterRecord.status.in_(SERVED))
                )
                served = [(row.version, row.share, adapter_matrix(row)) for row in rows]
            # The canary (share under 1) first: its users take it, everyone else the version served to all.
            return sorted(served, key=lambda entry: entry[1])

        try:
            served = await self._held.get(tenant, load)
        except (OperationalError, SQLAlchemyTimeoutError) as exc:
            # Without the records database a question goes through the embedder's vectors alone, not a 503.
            log.warning("served adapters unavailable (%s); answering without one", type(exc).__name__)
            return None
        for version, share, matrix in served:
            if share >= 1 or bucket(user) < share:
                return version, matrix
        return None
