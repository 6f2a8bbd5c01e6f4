"""A chunk's sentences, as ingest embeds them and the gateway compresses them: one splitter for both, so that the
vectors stored with a chunk (one per sentence, in order) line up with the sentences the gateway scores.

Sentence vectors travel packed: float16, little-endian, one row per sentence (`Chunk.sentence_vectors`); half
precision moves a cosine by under 0.001 and halves what every hit carries.
"""

import re

import numpy as np

# Sentence ends: ., ! or ? then whitespace, or a paragraph break.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n")
_STORED = np.dtype("<f2")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, surrounding whitespace left out; empty pieces skipped."""
    spans, start = [], 0
    for boundary in [*_SENTENCE_END.finditer(text), None]:
        end = boundary.start() if boundary else len(text)
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            lead = start + len(piece) - len(piece.lstrip())
            spans.append((lead, lead + len(stripped)))
        start = boundary.end() if boundary else len(text)
    return spans


def pack_vectors(vectors: list[list[float]]) -> bytes:
    """Sentence vectors as stored with their chunk."""
    return np.asarray(vectors, dtype=_STORED).tobytes() if vectors else b""


def whole_rows(packed: bytes, dimension: int) -> bool:
    """Whether `packed` divides into rows of `dimension` stored values."""
    return len(packed) % (dimension * _STORED.itemsize) == 0


def unpack_vectors(packed: bytes, sentences: int) -> np.ndarray | None:
    """The `sentences` x dimension matrix (float32) packed in `packed`; None when it holds no vectors or does not
    divide into that many rows (chunks indexed before sentence vectors, or split differently)."""
    if not packed or not sentences or len(packed) % (sentences * _STORED.itemsize):
        return None
    return np.frombuffer(packed, dtype=_STORED).reshape(sentences, -1).astype(np.float32)
