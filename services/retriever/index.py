"""The chunk index role, its records, and the filter vocabulary both Qdrant backends share."""

import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from qdrant_edge import Bm25, Bm25Config, SparseVector

from services.runtime.access import ACCESS_FIELD, Viewer
from services.runtime.errors import InvalidArgument

DENSE = "dense"
# BM25 term weights without IDF: the IDF is computed per tenant (and per reader) at query time, so a tenant's
# scores never depend on, or reveal, what other tenants index. Shards from before carry "bm25" (IDF applied by
# Qdrant over the whole collection); warm_up upgrades them.
SPARSE = "bm25_tf"
LEGACY_SPARSE = "bm25"
# The term ids of each chunk's sparse vector, as an indexed payload list: document frequencies come from counts.
TERMS_FIELD = "terms"
TENANT_FIELD = "tenant"
# Payload fields a caller may filter on. A closed set: an unknown field is a client error, never a
# silently empty result.
FILTER_FIELDS = ("document_id", "source", "tags", "licence", "content_type", "title")
# Declared metadata lives under one payload key; which names a tenant may use is its schema's business
# (the gateway checks that), the retriever only insists on a safe identifier.
ATTRIBUTES = "attributes"
ATTRIBUTE_FIELD = re.compile(r"attributes\.[a-z][a-z0-9_]{0,62}")
# Keyword indexes beyond the tenant key; revision and section_id are internal (revision swaps, parent sections).
KEYWORD_INDEXES = (*FILTER_FIELDS, "revision", "section_id", ACCESS_FIELD)


@dataclass
class ChunkRecord:
    """One chunk as stored: its vectors and its payload."""

    id: str
    dense: list[float]
    payload: dict[str, object]

    @property
    def lexical_text(self) -> str:
        # Title and body both carry lexical signal.
        return f"{self.payload.get('title', '')}\n{self.payload.get('text', '')}"


class Mode(Enum):
    HYBRID = "hybrid"
    DENSE = "dense"
    SPARSE = "sparse"


class FusionMethod(Enum):
    RRF = "rrf"
    DBSF = "dbsf"


@dataclass
class Condition:
    """field matches any of `any_of`, none of `none_of`, and lies within [gte, lte] where those are set."""

    field: str
    any_of: list[str] = field(default_factory=list)
    none_of: list[str] = field(default_factory=list)
    gte: float | None = None
    lte: float | None = None

    @property
    def has_range(self) -> bool:
        return self.gte is not None or self.lte is not None


@dataclass
class SearchQuery:
    tenant: str
    text: str
    dense: list[float]
    top_k: int
    conditions: list[Condition] = field(default_factory=list)
    mode: Mode = Mode.HYBRID
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    fusion: FusionMethod = FusionMethod.RRF
    rrf_k: int = 60
    # Maximal marginal relevance: None is off; 1 is pure relevance, lower is more diverse.
    mmr_lambda: float | None = None
    # Candidates per list before fusion and MMR.
    candidates: int = 20
    viewer: Viewer = field(default_factory=Viewer)


@dataclass
class ScoredChunk:
    id: str
    score: float
    dense_similarity: float
    payload: dict[str, object]


def validate_conditions(conditions: list[Condition]) -> None:
    """Reject unknown fields and empty conditions before anything reaches Qdrant."""
    for condition in conditions:
        attribute = ATTRIBUTE_FIELD.fullmatch(condition.field) is not None
        if condition.field not in FILTER_FIELDS and not attribute:
            raise InvalidArgument(
                f"unknown filter field {condition.field!r}; filterable fields are: {', '.join(FILTER_FIELDS)} "
                "and attributes.<name>"
            )
        if not condition.any_of and not condition.none_of and not condition.has_range:
            raise InvalidArgument(f"filter on {condition.field!r} has no values")
        if condition.has_range and not attribute:
            raise InvalidArgument(f"{condition.field!r} is not numeric: gte/lte apply to attributes only")
        if condition.gte is not None and condition.lte is not None and condition.gte > condition.lte:
            raise InvalidArgument(f"filter on {condition.field!r}: gte {condition.gte} is above lte {condition.lte}")


def idf(chunks: int, containing: int) -> float:
    """BM25's inverse document frequency, the formula Qdrant's IDF modifier uses."""
    return math.log((chunks - containing + 0.5) / (containing + 0.5) + 1.0)


class LexicalEncoder:
    """BM25 term weights from Qdrant's own tokenizer and stemmer (length-normalised term frequencies for chunks,
    the query's terms for queries); the IDF comes from `tenant_weights`."""

    def __init__(self) -> None:
        self._bm25 = Bm25(Bm25Config(language="english"))

    def document(self, text: str) -> SparseVector:
        return self._bm25.embed_document(text)

    def query(self, text: str) -> SparseVector:
        return self._bm25.embed_query(text)


Count = Callable[[list[int | None]], Awaitable[list[int]]]


class TermCounts:
    """Document frequencies per (tenant, reader's access entries, term), and chunk totals (term None), kept
    `ttl_seconds`: an exact count costs a fraction of a millisecond per term, and a query has a dozen terms.
    A write to a tenant drops its entries here at once; other replicas see it within the TTL (IDF moves slowly).
    Entries never mix tenants or readers, so the cache cannot carry one tenant's counts into another's scores."""

    _MAX_ENTRIES = 200_000

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[tuple[str, tuple[str, ...] | None, int | None], tuple[float, int]] = {}

    async def get(self, tenant: str, viewer: Viewer, terms: list[int | None], count: Count) -> list[int]:
        entries = viewer.entries()
        scope = (tenant, tuple(entries) if entries is not None else None)
        now = time.monotonic()
        missing = [t for t in terms if now - self._entries.get((*scope, t), (-math.inf, 0))[0] >= self._ttl]
        if missing:
            if len(self._entries) > self._MAX_ENTRIES:
                self._entries.clear()
            for term, n in zip(missing, await count(missing), strict=True):
                self._entries[(*scope, term)] = (now, n)
        return [self._entries[(*scope, t)][1] for t in terms]

    def forget(self, tenant: str) -> None:
        for key in [key for key in self._entries if key[0] == tenant]:
            del self._entries[key]


async def tenant_weights(
    query: "SearchQuery", terms: list[int], counts: TermCounts, count: Count
) -> tuple[list[int], list[float]]:
    """The query's terms weighted by their IDF among the chunks the reader may see in its tenant.

    `count` answers, for each term (None: no term), how many of those chunks contain it; terms no such chunk
    contains are dropped (they cannot match)."""
    if not terms:
        return [], []
    total, *containing = await counts.get(query.tenant, query.viewer, [None, *terms], count)
    kept = [(term, idf(total, n)) for term, n in zip(terms, containing, strict=True) if n]
    return [t for t, _ in kept], [w for _, w in kept]


def to_scored_chunk(query: SearchQuery, point: object) -> ScoredChunk:
    """A hit from either backend (both return points with id, score, vector and payload)."""
    vectors = point.vector if isinstance(point.vector, dict) else {}
    stored = vectors.get(DENSE)
    # Vectors from the embedder are L2-normalised, so the dot product is the cosine.
    similarity = float(sum(x * y for x, y in zip(query.dense, stored, strict=True))) if query.dense and stored else 0.0
    return ScoredChunk(
        id=str(point.id), score=float(point.score), dense_similarity=similarity, payload=dict(point.payload or {})
    )


def group_sections(records: list[object]) -> dict[tuple[str, str], list[ScoredChunk]]:
    """Scrolled points (either backend) grouped by (document_id, section_id), each group in chunk order."""
    grouped: dict[tuple[str, str], list[ScoredChunk]] = {}
    for record in records:
        payload = dict(record.payload or {})
        key = (str(payload.get("document_id", "")), str(payload.get("section_id", "")))
        grouped.setdefault(key, []).append(
            ScoredChunk(id=str(record.id), score=0.0, dense_similarity=0.0, payload=payload)
        )
    for chunks in grouped.values():
        chunks.sort(key=lambda chunk: int(chunk.payload.get("chunk_index", 0)))
    return grouped


class ChunkIndex(Protocol):
    """Where chunks live. Every operation is scoped to one tenant."""

    backend: str

    async def warm_up(self) -> None: ...

    async def upsert(self, tenant: str, chunks: list[ChunkRecord]) -> int:
        """Apply and flush; return only when the points are durable."""
        ...

    async def search(self, query: SearchQuery) -> list[ScoredChunk]: ...

    async def sections(
        self, tenant: str, refs: list[tuple[str, str]], viewer: Viewer
    ) -> dict[tuple[str, str], list[ScoredChunk]]:
        """Every chunk of each (document_id, section_id) the viewer may see, by chunk_index; missing sections are
        left out."""
        ...

    async def set_access(self, tenant: str, document_id: str, entries: list[str]) -> None:
        """Replace the access list of every chunk of the document (all revisions); durable when it returns."""
        ...

    async def delete_document(
        self, tenant: str, document_id: str, keep_revision: str = "", only_revision: str = ""
    ) -> None:
        """Delete a document's chunks: all, all but `keep_revision`, or only `only_revision`."""
        ...

    async def count(self, tenant: str) -> int: ...

    async def close(self) -> None: ...
