"""The chunk index role, its records, and the filter vocabulary both Qdrant backends share."""

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from qdrant_edge import Bm25, Bm25Config, SparseVector

from services.runtime.errors import InvalidArgument

DENSE = "dense"
SPARSE = "bm25"
TENANT_FIELD = "tenant"
# Payload fields a caller may filter on. A closed set: an unknown field is a client error, never a
# silently empty result.
FILTER_FIELDS = ("document_id", "source", "tags", "licence", "content_type", "title")
# Keyword indexes beyond the tenant key; revision is internal (used when swapping document versions).
KEYWORD_INDEXES = (*FILTER_FIELDS, "revision")


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
    """field matches any of `any_of` and none of `none_of`."""

    field: str
    any_of: list[str] = field(default_factory=list)
    none_of: list[str] = field(default_factory=list)


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


@dataclass
class ScoredChunk:
    id: str
    score: float
    dense_similarity: float
    payload: dict[str, object]


def validate_conditions(conditions: list[Condition]) -> None:
    """Reject unknown fields and empty conditions before anything reaches Qdrant."""
    for condition in conditions:
        if condition.field not in FILTER_FIELDS:
            raise InvalidArgument(
                f"unknown filter field {condition.field!r}; filterable fields are: {', '.join(FILTER_FIELDS)}"
            )
        if not condition.any_of and not condition.none_of:
            raise InvalidArgument(f"filter on {condition.field!r} has no values")


class LexicalEncoder:
    """BM25 term weights from Qdrant's own tokenizer and stemmer; Qdrant applies the IDF at query time."""

    def __init__(self) -> None:
        self._bm25 = Bm25(Bm25Config(language="english"))

    def document(self, text: str) -> SparseVector:
        return self._bm25.embed_document(text)

    def query(self, text: str) -> SparseVector:
        return self._bm25.embed_query(text)


def to_scored_chunk(query: SearchQuery, point: object) -> ScoredChunk:
    """A hit from either backend (both return points with id, score, vector and payload)."""
    vectors = point.vector if isinstance(point.vector, dict) else {}
    stored = vectors.get(DENSE)
    # Vectors from the embedder are L2-normalised, so the dot product is the cosine.
    similarity = float(sum(x * y for x, y in zip(query.dense, stored, strict=True))) if query.dense and stored else 0.0
    return ScoredChunk(
        id=str(point.id), score=float(point.score), dense_similarity=similarity, payload=dict(point.payload or {})
    )


class ChunkIndex(Protocol):
    """Where chunks live. Every operation is scoped to one tenant."""

    backend: str

    async def warm_up(self) -> None: ...

    async def upsert(self, tenant: str, chunks: list[ChunkRecord]) -> int:
        """Apply and flush; return only when the points are durable."""
        ...

    async def search(self, query: SearchQuery) -> list[ScoredChunk]: ...

    async def delete_document(
        self, tenant: str, document_id: str, keep_revision: str = "", only_revision: str = ""
    ) -> None:
        """Delete a document's chunks: all, all but `keep_revision`, or only `only_revision`."""
        ...

    async def count(self, tenant: str) -> int: ...

    async def close(self) -> None: ...
