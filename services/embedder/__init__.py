"""The embedder service: text to dense vectors."""
