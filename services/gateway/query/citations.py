"""Citations and confidence: which passages an answer cites (by its [n] markers, or by holding most of its words
for a model that writes none), the sentence of each that bears most on the question, and how strongly retrieval
matched. Pure functions; importable without FastAPI or Redis."""

import re

from ragmesh.retriever.v1 import retriever_pb2
from services.gateway.models import Citation, Quote
from services.gateway.query.context import Passage

_MARKER = re.compile(r"\[(\d{1,2})\]")
_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    (
        "the and for are was were that this with from have has had not but its their they them into "
        "than then what when where which who why how does did can could would should will about also been being"
    ).split()
)
# Share of the answer's content words a passage must hold to count as supporting it.
SUPPORT_THRESHOLD = 0.5


def _content_words(text: str) -> set[str]:
    return {w for w in (m.lower() for m in _WORD.findall(text)) if len(w) > 2 and w not in _STOPWORDS}


def support(answer: str, passage: str) -> float:
    """Share of the answer's content words that the passage contains: 1.0 means fully grounded in it."""
    said = _content_words(_MARKER.sub(" ", answer))
    return round(len(said & _content_words(passage)) / len(said), 4) if said else 0.0


def quote(passage: Passage, question: str) -> str:
    """The passage's sentence most similar to the question (by embedding when compression scored them, else by
    shared words)."""
    if not passage.sentences:
        return ""
    if all(sentence.similarity is not None for sentence in passage.sentences):
        return max(passage.sentences, key=lambda s: s.similarity).text[:500]
    asked = {w.lower() for w in _WORD.findall(question) if len(w) > 2}
    return max(passage.sentences, key=lambda s: len(asked & {w.lower() for w in _WORD.findall(s.text)})).text[:500]


def confidence(best: float, relevant: float, confident: float) -> float:
    """0 at the relevance threshold, 1 at the confident similarity, linear between."""
    span = max(confident - relevant, 1e-6)
    return round(min(1.0, max(0.0, (best - relevant) / span)), 4)


def ambiguous(hits: list[retriever_pb2.Hit], confident: float, margin: float) -> bool:
    """Retrieval is ambiguous when the two best documents match about equally (within `margin`) and neither
    matches confidently: the question may be about either, and they may not agree."""
    best: dict[str, float] = {}
    for hit in hits:
        best[hit.chunk.document_id] = max(best.get(hit.chunk.document_id, -1.0), hit.dense_similarity)
    top = sorted(best.values(), reverse=True)[:2]
    return len(top) == 2 and top[0] - top[1] <= margin and top[0] < confident


def citations(passages: list[Passage], question: str, answer: str) -> list[Citation]:
    """Passages the answer cites by [n]; for a model that writes no markers, the passages that support it.
    When it cites nothing, every passage comes back uncited, so sources are never lost."""
    supports = [support(answer, passage.text) for passage in passages]
    cited = {int(n) for n in _MARKER.findall(answer)} & set(range(1, len(passages) + 1))
    if not cited and supports:
        cited = {i for i, share in enumerate(supports, start=1) if share >= SUPPORT_THRESHOLD}
    return [
        Citation(
            index=i,
            cited=i in cited,
            document_id=passage.document_id,
            title=passage.title,
            chunk_index=passage.chunk_index,
            heading_path=passage.heading_path,
            source=passage.source,
            quote=quote(passage, question),
            quotes=[
                Quote(
                    text=sentence.text,
                    char_start=sentence.char_start,
                    char_end=sentence.char_end,
                    similarity=None if sentence.similarity is None else round(sentence.similarity, 4),
                )
                for sentence in passage.sentences
            ],
            text=passage.text,
            char_start=passage.char_start,
            char_end=passage.char_end,
            score=round(passage.similarity, 4),
            support=supports[i - 1],
        )
        for i, passage in enumerate(passages, start=1)
        if i in cited or not cited
    ]
