"""Structure-aware chunking: each section (the parent) is cut into child chunks at paragraph and
sentence boundaries, so a chunk never straddles two sections and always knows its heading path."""

import re
import uuid
from collections import Counter
from dataclasses import dataclass

from ragmesh.retriever.v1 import retriever_pb2
from services.ingest.extract import Extracted
from services.runtime.passages import embedding_text
from services.runtime.sentences import pack_vectors, sentence_spans

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_PARAGRAPH = re.compile(r"\n\s*\n")


@dataclass
class ChunkDraft:
    """A chunk before it is embedded."""

    index: int
    text: str
    heading_path: list[str]
    section_id: str
    char_start: int
    char_end: int

    def embedding_text(self, title: str) -> str:
        """What the embedder sees: the chunk with its title and headings (services/runtime/passages.py)."""
        return embedding_text(self.text, title, self.heading_path)


def _pieces(text: str, max_chars: int) -> list[tuple[int, int]]:
    """(start, end) spans of paragraphs, and of sentences or word runs where a paragraph is too long."""
    spans: list[tuple[int, int]] = []
    position = 0
    for paragraph in _PARAGRAPH.split(text):
        start = text.index(paragraph, position)
        position = start + len(paragraph)
        if len(paragraph) <= max_chars:
            spans.append((start, position))
            continue
        cursor = start
        for sentence in _SENTENCE_END.split(paragraph):
            s_start = text.index(sentence, cursor)
            cursor = s_start + len(sentence)
            while cursor - s_start > max_chars:
                cut = text.rfind(" ", s_start, s_start + max_chars)
                cut = cut if cut > s_start else s_start + max_chars
                spans.append((s_start, cut))
                s_start = cut + 1 if text[cut : cut + 1] == " " else cut
            if cursor > s_start:
                spans.append((s_start, cursor))
    return spans


def chunk_document(document: Extracted, max_chars: int = 800, min_chars: int = 200) -> list[ChunkDraft]:
    """Pack each section's paragraphs and sentences into chunks of at most `max_chars` characters."""
    drafts: list[ChunkDraft] = []
    for number, section in enumerate(document.sections):
        section_id = f"s{number}"
        current: tuple[int, int] | None = None
        for start, end in _pieces(section.text, max_chars):
            if current is not None and end - current[0] <= max_chars:
                current = (current[0], end)
                continue
            if current is not None:
                drafts.append(_draft(len(drafts), section, section_id, current))
            current = (start, end)
        if current is not None:
            # A short tail joins the previous chunk of the same section when it fits loosely.
            last = drafts[-1] if drafts else None
            if (
                last is not None
                and last.section_id == section_id
                and current[1] - current[0] < min_chars
                and current[1] - (last.char_start - section.start) <= max_chars + min_chars
            ):
                drafts[-1] = _draft(last.index, section, section_id, (last.char_start - section.start, current[1]))
            else:
                drafts.append(_draft(len(drafts), section, section_id, current))
    return drafts


def _draft(index: int, section, section_id: str, span: tuple[int, int]) -> ChunkDraft:
    start, end = span
    return ChunkDraft(
        index=index,
        text=section.text[start:end].strip(),
        heading_path=list(section.heading_path),
        section_id=section_id,
        char_start=section.start + start,
        char_end=section.start + end,
    )


_POINT_NAMESPACE = uuid.UUID("6f1c0b52-3a52-4d0e-9b7b-2f8f3c1d9a10")


def point_id(tenant: str, document_id: str, revision: str, chunk_index: int) -> str:
    """Deterministic: re-ingesting the same revision overwrites its points instead of duplicating them, and
    a new revision never touches the points of the one it replaces until it is complete."""
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{tenant}\x1f{document_id}\x1f{revision}\x1f{chunk_index}"))


def embedding_texts(drafts: list[ChunkDraft], title: str, sentences: bool) -> list[str]:
    """What the embedder is sent for one revision: each chunk with its title and headings, then (`sentences`)
    every chunk's sentences in order, which the gateway scores against questions when it compresses."""
    texts = [draft.embedding_text(title) for draft in drafts]
    if sentences:
        texts += [draft.text[start:end] for draft in drafts for start, end in sentence_spans(draft.text)]
    return texts


def index_chunks(
    base: retriever_pb2.Chunk, drafts: list[ChunkDraft], vectors: list[list[float]], tenant: str, revision: str
) -> list[retriever_pb2.Chunk]:
    """The index's chunks of one revision: `base` (what every chunk of the document carries) with each draft's
    text, position, section and vector, in the order `embedding_texts` gave; its sentences' vectors when the
    vectors run past one a chunk."""
    rows = iter(vectors[len(drafts) :])
    section_sizes = Counter(draft.section_id for draft in drafts)
    chunks = []
    for draft, vector in zip(drafts, vectors[: len(drafts)], strict=True):
        chunk = retriever_pb2.Chunk()
        chunk.CopyFrom(base)
        chunk.id = point_id(tenant, base.document_id, revision, draft.index)
        chunk.chunk_index = draft.index
        chunk.text = draft.text
        chunk.dense.extend(vector)
        chunk.heading_path.extend(draft.heading_path)
        chunk.section_id = draft.section_id
        chunk.section_chunks = section_sizes[draft.section_id]
        chunk.char_start, chunk.char_end = draft.char_start, draft.char_end
        if len(vectors) > len(drafts):
            chunk.sentence_vectors = pack_vectors([next(rows) for _ in sentence_spans(draft.text)])
        chunks.append(chunk)
    return chunks
