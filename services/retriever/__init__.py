"""The retriever service: the chunk index, hybrid search, filters and tenant isolation."""
