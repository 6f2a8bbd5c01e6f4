"""What the generator is shown: retrieved chunks, grown to their parent sections, cut to the sentences that
bear on the question, within a token budget counted by the generator's own tokenizer.

Every passage is a list of sentences that keep their offsets in the source document, so a citation can
quote exactly what was shown and say where it sits.
"""

from dataclasses import dataclass, field

import numpy as np

from ragmesh.retriever.v1 import retriever_pb2
from services.runtime.sentences import sentence_spans, unpack_vectors


# Identity equality: sentences are told apart by id() everywhere (token counts, choices), and a vector has no ==.
@dataclass(eq=False)
class Sentence:
    """A sentence of the source document, with its offsets in the document's extracted text."""

    text: str
    char_start: int
    char_end: int
    # Cosine similarity to the question; None until compression scores it.
    similarity: float | None = None
    # The sentence's vector as ingest stored it with its chunk (L2-normalised); None: embedded when scored.
    vector: np.ndarray | None = None


def split_sentences(text: str, offset: int = 0) -> list[Sentence]:
    """The text's sentences, each with its position shifted by `offset` (where the text starts in its document)."""
    return [Sentence(text[start:end], offset + start, offset + end) for start, end in sentence_spans(text)]


def chunk_sentences(chunk: retriever_pb2.Chunk) -> list[Sentence]:
    """A chunk's sentences, with the vectors stored beside it when they line up."""
    sentences = split_sentences(chunk.text, chunk.char_start)
    vectors = unpack_vectors(chunk.sentence_vectors, len(sentences))
    if vectors is not None:
        for sentence, vector in zip(sentences, vectors, strict=True):
            sentence.vector = vector
    return sentences


@dataclass
class Passage:
    """One numbered passage of the context: a chunk, or the parent section it belongs to."""

    document_id: str
    title: str
    source: str
    heading_path: list[str]
    section_id: str
    chunk_index: int
    # The best query-chunk cosine similarity among the hits this passage stands for.
    similarity: float
    sentences: list[Sentence] = field(default_factory=list)
    expanded: bool = False
    # Who may see the document inside the tenant (empty: everyone); a cached answer is served only to callers
    # who may see every document it cites.
    allowed_users: list[str] = field(default_factory=list)
    allowed_groups: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(sentence.text for sentence in self.sentences)

    @property
    def char_start(self) -> int:
        return min((s.char_start for s in self.sentences), default=0)

    @property
    def char_end(self) -> int:
        return max((s.char_end for s in self.sentences), default=0)

    @classmethod
    def from_chunks(cls, chunks: list[retriever_pb2.Chunk], similarity: float, expanded: bool) -> "Passage":
        first = chunks[0]
        sentences = [s for chunk in chunks for s in chunk_sentences(chunk)]
        return cls(
            document_id=first.document_id,
            title=first.title,
            source=first.source,
            heading_path=list(first.heading_path),
            section_id=first.section_id,
            chunk_index=first.chunk_index,
            similarity=similarity,
            sentences=sentences,
            expanded=expanded,
            allowed_users=list(first.allowed_users),
            allowed_groups=list(first.allowed_groups),
        )


def expand_to_sections(
    hits: list[retriever_pb2.Hit], sections: dict[tuple[str, str], list[retriever_pb2.Chunk]], max_chars: int
) -> list[Passage]:
    """Each hit's parent section, once per section, in the order of the best hit (chunks inside a section in
    document order). A section longer than `max_chars`, or one no longer indexed, stays the chunk that was hit."""
    passages: list[Passage] = []
    placed: dict[tuple[str, str], Passage] = {}
    for hit in hits:
        key = (hit.chunk.document_id, hit.chunk.section_id)
        if key in placed:
            continue
        chunks = sections.get(key, [])
        whole = bool(chunks) and sum(len(c.text) for c in chunks) <= max_chars
        passage = Passage.from_chunks(
            chunks if whole else [hit.chunk], hit.dense_similarity, expanded=len(chunks) > 1 and whole
        )
        if whole:
            placed[key] = passage
        passages.append(passage)
    return passages


def keep_relevant(passages: list[Passage], min_similarity: float, passage_margin: float | None) -> list[Passage]:
    """Drop whole passages whose best sentence is more than `passage_margin` under the context's best sentence
    (never the first passage), then the sentences under `min_similarity`; a kept passage keeps its best one."""
    scored = [p for p in passages if p.sentences]
    if not scored:
        return passages
    top = max((s.similarity or 0.0) for p in scored for s in p.sentences)
    kept = []
    for position, passage in enumerate(scored):
        best = max(passage.sentences, key=lambda s: s.similarity or 0.0)
        if position and passage_margin is not None and (best.similarity or 0.0) < top - passage_margin:
            continue
        passage.sentences = [s for s in passage.sentences if s is best or (s.similarity or 0.0) >= min_similarity]
        kept.append(passage)
    return kept


def fit_budget(passages: list[Passage], tokens: dict[int, int], budget: int) -> list[Passage]:
    """Drop the least similar sentences (and passages left empty) until the context fits `budget` tokens.
    `tokens` maps id(sentence) to its count. The best sentence of the first passage always stays."""

    def total() -> int:
        return sum(tokens[id(s)] for p in passages for s in p.sentences)

    protected = (
        max(passages[0].sentences, key=lambda s: s.similarity or 0.0) if passages and passages[0].sentences else None
    )
    candidates = sorted(
        ((s.similarity or 0.0, i, s) for i, p in enumerate(passages) for s in p.sentences if s is not protected),
        key=lambda item: (item[0], -item[1]),
    )
    spent = total()
    for _, index, sentence in candidates:
        if spent <= budget:
            break
        passages[index].sentences = [s for s in passages[index].sentences if s is not sentence]
        spent -= tokens[id(sentence)]
    return [p for p in passages if p.sentences]


# The optional LLM extractor: the generator reads every sentence, numbered, and names those to keep.
EXTRACT_INSTRUCTION = (
    "Every sentence of the passages carries a number in parentheses. List the numbers of the sentences that help "
    "answer the question: facts, figures and findings about what it asks. Leave out the rest."
)
EXTRACT_EXAMPLES = [
    (
        "[1] Ferry timetable\n(1) The ferry leaves at 07:15 on weekdays. (2) Dogs must be kept on a lead. "
        "(3) On Sundays the first crossing is at 09:00.\nQuestion: When does the first ferry leave on Sunday?",
        {"sentences": [3]},
    ),
]


def numbered(passages: list[Passage]) -> tuple[list[str], list[Sentence]]:
    """Each passage's text with its sentences numbered across the whole context, and the sentences in that order."""
    texts, order = [], []
    for passage in passages:
        parts = []
        for sentence in passage.sentences:
            order.append(sentence)
            parts.append(f"({len(order)}) {sentence.text}")
        texts.append(" ".join(parts))
    return texts, order


def sentence_schema(count: int) -> dict:
    """The extractor's answer: sentence numbers that exist."""
    return {
        "type": "object",
        "properties": {
            "sentences": {
                "type": "array",
                "items": {"enum": list(range(1, count + 1))},
                "maxItems": count,
            }
        },
        "required": ["sentences"],
        "additionalProperties": False,
    }


def keep_chosen(passages: list[Passage], chosen: set[int]) -> list[Passage]:
    """Keep the sentences whose number (as `numbered` gave them) was chosen; a passage left empty goes, except the
    first, which keeps its best sentence so the context is never empty."""
    _, order = numbered(passages)
    keep = {id(sentence) for number, sentence in enumerate(order, start=1) if number in chosen}
    kept = []
    for position, passage in enumerate(passages):
        sentences = [s for s in passage.sentences if id(s) in keep]
        if not sentences and position == 0 and passage.sentences:
            sentences = [max(passage.sentences, key=lambda s: s.similarity or 0.0)]
        if sentences:
            passage.sentences = sentences
            kept.append(passage)
    return kept
