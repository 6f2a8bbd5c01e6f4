"""The query path's caches, in Redis, each keyed on the tenant's corpus version (whose truth is the ingest
catalogue, so no entry outlives the corpus it was built on): whole answers (exact), answers to near-identical
questions (semantic), and ranked hits (retrieval). Embeddings are cached by the embedder service itself, for
queries and ingest alike. The only package of the query path that talks to Redis; when Redis does not answer,
the caches are skipped, never waited on."""

from services.gateway.query.caches.answers import AnswerCache, CachedAnswer
from services.gateway.query.caches.keys import Caches, cache_key
from services.gateway.query.caches.retrieval import RetrievalCache
from services.gateway.query.caches.semantic import SemanticCache
from services.gateway.query.caches.versions import CorpusVersions

__all__ = [
    "AnswerCache",
    "CachedAnswer",
    "Caches",
    "CorpusVersions",
    "RetrievalCache",
    "SemanticCache",
    "cache_key",
]
