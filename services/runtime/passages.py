"""How a passage is put to the embedder when it is indexed: its text under its title and headings, which carry much
of its topic. Ingest embeds chunks so; the gateway's learning loop embeds the passages it learns from the same way,
so that what it learns lines up with the vectors in the index."""


def embedding_text(text: str, title: str, heading_path: list[str]) -> str:
    context = " > ".join(part for part in [title, *heading_path] if part)
    return f"{context}\n{text}" if context else text
