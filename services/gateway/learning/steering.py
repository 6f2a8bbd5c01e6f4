"""Learned steering: a dial is a direction in the embedding space, learned from contrastive pairs (texts that should
rank higher, texts that should rank lower); a request that turns dials (weights from -1 to 1) moves its query vector
along them before retrieval. Weight 0 (or no dial) leaves the vector exactly as it was.

The direction is the mean difference of the pairs' vectors (a difference-of-means steering vector, as in activation
steering): with a few dozen pairs it is stable where a classifier would overfit, and it costs one vector addition
per query. Written here because no library does this on our vectors; it is a few lines of numpy."""

import hashlib
from dataclasses import dataclass, field

import numpy as np

from services.gateway.learning.adapter import adapt
from services.runtime.errors import InvalidArgument


def direction(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """The unit direction from the negative texts towards the positive ones (rows pair up)."""
    mean = (positives - negatives).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-6:
        raise InvalidArgument("the positive and negative texts embed alike: there is no direction to learn")
    return (mean / norm).astype(np.float32)


def held_out_accuracy(positives: np.ndarray, negatives: np.ndarray, folds: int = 5) -> tuple[int, float]:
    """Cross-validated: how many pairs were held out, and the share of them the direction learned on the others
    orders the right way (positive above negative). (0, 0.0) with fewer than 10 pairs."""
    count = len(positives)
    if count < 10:
        return 0, 0.0
    right = 0
    for fold in range(folds):
        held = np.arange(count) % folds == fold
        learned = direction(positives[~held], negatives[~held])
        right += int(((positives[held] - negatives[held]) @ learned > 0).sum())
    return count, right / count


@dataclass(frozen=True)
class Dial:
    """A tenant's named dial as this replica holds it."""

    name: str
    revision: str
    vector: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Steering:
    """What a request's dials add to its query vector; `fingerprint` tells caches apart (it names each dial's
    revision, so that a re-learned dial never serves an entry of the old one)."""

    offset: np.ndarray | None = field(default=None, repr=False)
    fingerprint: str = ""
    weights: dict[str, float] = field(default_factory=dict)
    # The weight of the asker's own vector (learning/preferences.py), 0 when none was applied.
    personal: float = 0.0
    # The query-side adapter served to the asker (learning/adapter.py), applied first, and its version.
    matrix: np.ndarray | None = field(default=None, repr=False)
    adapter: int = 0

    def record(self) -> dict[str, object]:
        """What the interaction log keeps of it."""
        return {"dials": self.weights, "personal": self.personal, "adapter": self.adapter}

    def apply(self, vector: list[float]) -> list[float]:
        if self.matrix is not None:
            vector = adapt(self.matrix, vector)
        if self.offset is None:
            return vector
        moved = np.asarray(vector, dtype=np.float32) + self.offset
        return (moved / np.linalg.norm(moved)).tolist()

    def versioned(self, version: str) -> str:
        """A cache identity for the corpus `version` seen through this steering ("" stays "": no caching)."""
        return f"{version}|{self.fingerprint}" if version and self.fingerprint else version


UNSTEERED = Steering()


def steering(
    dials: dict[str, Dial],
    weights: dict[str, float],
    strength: float,
    personal: tuple[np.ndarray, str] | None = None,
    personal_weight: float = 0.0,
    adapter: tuple[int, np.ndarray] | None = None,
) -> Steering:
    """The steering for `weights` over the tenant's `dials`, plus the asker's own unit vector (and its identity for
    the caches) at `personal_weight`; an unknown dial is a 422 naming the known ones."""
    if unknown := sorted(set(weights) - set(dials)):
        known = ", ".join(sorted(dials)) or "none"
        raise InvalidArgument(f"unknown dial(s) {unknown}; this tenant's dials: {known}")
    turned = {name: weight for name, weight in sorted(weights.items()) if weight != 0}
    mine = personal is not None and personal_weight > 0
    if not turned and not mine and adapter is None:
        return UNSTEERED
    offset = strength * sum((weight * dials[name].vector for name, weight in turned.items()), np.float32(0))
    identity = ";".join(f"{name}@{dials[name].revision}={weight:.4f}" for name, weight in turned.items())
    if mine:
        offset = offset + personal_weight * personal[0]
        identity += f";me@{personal[1]}={personal_weight:.4f}"
    if adapter is not None:
        identity += f";adapter@{adapter[0]}"
    fingerprint = hashlib.sha256(identity.encode()).hexdigest()[:16]
    moved = np.asarray(offset, dtype=np.float32) if turned or mine else None
    version, matrix = adapter if adapter is not None else (0, None)
    return Steering(moved, fingerprint, turned, personal_weight if mine else 0.0, matrix, version)
