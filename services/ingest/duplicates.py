"""Near-duplicates within a tenant: a MinHash signature (datasketch) of each document's word 5-shingles, cut into
LSH bands whose hashes the catalogue indexes, so that the documents sharing a band with a new one (the candidates)
are found by one indexed query, and their similarity estimated from the stored signatures.

datasketch makes the signatures and picks the bands and rows that fit the threshold; its LSH index keeps its tables
in memory, Redis or Cassandra, none of which the ingest replicas share as their record, so the band hashes live in
the catalogue beside the documents, written in the same transaction.
"""

import functools
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from datasketch import MinHash, MinHashLSH

if TYPE_CHECKING:
    from services.ingest.catalog import Catalog

NUM_PERM = 128
# datasketch's hashing scheme, named so that signatures stored today compare with those made after an upgrade.
SCHEME = "affine32"
SHINGLE_WORDS = 5
_WORD = re.compile(r"\w+")


@dataclass
class Fingerprint:
    signature: bytes
    bands: list[str]


@functools.lru_cache(maxsize=8)
def _bands_and_rows(threshold: float) -> tuple[int, int]:
    # Missing a duplicate costs an index twice as big; a candidate too many costs one comparison of signatures, which
    # then decides: bands are chosen for recall.
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, weights=(0.05, 0.95))
    return lsh.b, lsh.r


def fingerprint(text: str, threshold: float) -> Fingerprint:
    """The text's signature and its LSH band hashes for `threshold` (a Jaccard similarity)."""
    words = _WORD.findall(text.lower())
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(max(1, len(words) - SHINGLE_WORDS + 1))}
    minhash = MinHash(num_perm=NUM_PERM, scheme=SCHEME)
    minhash.update_batch([shingle.encode() for shingle in shingles])
    values = minhash.hashvalues.astype(np.uint64)
    bands, rows = _bands_and_rows(threshold)
    hashed = [
        f"{band}:{hashlib.sha1(values[band * rows : (band + 1) * rows].tobytes()).hexdigest()[:16]}"
        for band in range(bands)
    ]
    return Fingerprint(values.tobytes(), hashed)


def similarity(one: bytes, other: bytes) -> float:
    """The Jaccard similarity two signatures estimate."""
    a = MinHash(num_perm=NUM_PERM, hashvalues=np.frombuffer(one, dtype=np.uint64), scheme=SCHEME)
    b = MinHash(num_perm=NUM_PERM, hashvalues=np.frombuffer(other, dtype=np.uint64), scheme=SCHEME)
    return float(a.jaccard(b))


async def original_of(
    catalog: "Catalog",
    threshold: float,
    tenant: str,
    document_id: str,
    content_hash: str,
    shingled: Fingerprint | None,
    users: list[str],
    groups: list[str],
) -> tuple[str, float] | None:
    """Another document of the tenant with the same text, or (past the threshold) nearly the same, shown to the
    same readers: (its id, the similarity). A copy meant for other readers is not a duplicate: it is indexed."""
    candidates = [(other, 1.0) for other in await catalog.same_content(tenant, content_hash, document_id)]
    if shingled is not None:
        near = [
            (other, similarity(shingled.signature, signature))
            for other, signature in await catalog.sharing_a_band(tenant, shingled.bands, document_id)
        ]
        candidates += sorted(((o, s) for o, s in near if s >= threshold), key=lambda c: -c[1])
    for other, score in candidates:
        record = await catalog.get(tenant, other)
        if record is not None and (record.allowed_users, record.allowed_groups) == (users, groups):
            return other, round(score, 4)
    return None
