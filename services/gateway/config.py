"""Gateway settings (env prefix RAGMESH_GATEWAY_)."""

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import SettingsConfigDict

from services.gateway.models import QueryRequest
from services.gateway.tiers import Tier
from services.runtime.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Where the gateway listens, what it calls, and the limits it enforces."""

    model_config = SettingsConfigDict(env_prefix="RAGMESH_GATEWAY_", extra="ignore")
    service_name: ClassVar[str] = "gateway"

    port: int = 8080
    # Serve /docs, /redoc and /openapi.json (turn off in production to publish less about the API).
    docs_enabled: bool = True
    # Put the question's text on traces (off: only its hash, for finding repeats).
    trace_question_text: bool = False
    # How often each replica counts the cache layers' entries for the cache_size gauge (0: never).
    cache_size_interval_seconds: float = 60.0
    # Bootstrap keys from configuration, key -> tenant, as JSON: {"key-a": "acme"}; every scope. Keys issued
    # through /v1/admin/keys live hashed in the database instead, and can be scoped, expired and revoked.
    api_keys: dict[str, str] = Field(default_factory=dict)
    # The gateway's records (API keys, audit log): a SQLAlchemy URL, postgresql://user@host/db in production;
    # empty: a SQLite file in data_dir.
    database_url: str = ""
    data_dir: Path = Path(".ragmesh/gateway")
    # Upgrade the database schema at start-up (replicas take turns through a PostgreSQL advisory lock).
    migrate_on_start: bool = True
    # How long a replica trusts a stored key's lookup: a revoked key is refused everywhere within this.
    key_cache_seconds: float = 1.0
    # Tenants whose admin credentials may act for another tenant (header X-Ragmesh-Tenant); audited.
    operator_tenants: list[str] = Field(default_factory=list)
    # Rate limits (services/gateway/ratelimits.py), by bucket: answer (query, verify), search, ingest. Tiers like
    # "10/minute". Per caller (a stored key, or a JWT's user; a key may carry its own; bootstrap keys are exempt):
    rate_limits: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "answer": ["10/minute", "100/hour", "500/day"],
            "search": ["60/minute", "1000/hour", "5000/day"],
            "ingest": ["60/minute", "5000/day"],
        }
    )
    # ... per tenant (every caller of the tenant together), with overrides by tenant name ...
    tenant_rate_limits: dict[str, list[str]] = Field(default_factory=dict)
    tenant_rate_limit_overrides: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    # ... and for the whole suite.
    global_rate_limits: dict[str, list[str]] = Field(default_factory=dict)
    # Requests of one tenant in flight at once, across replicas (0: no cap); a slot frees itself after the timeout.
    tenant_max_in_flight: int = 32
    in_flight_timeout_seconds: float = 300.0
    # Daily cost budgets in US dollars (services/gateway/budgets.py; 0: none): per caller (stored key or JWT user),
    # per tenant, for the whole suite. Reserved before each generation at its worst case, settled at its cost.
    budget_user_usd_per_day: float = 5.0
    budget_tenant_usd_per_day: float = 0.0
    budget_global_usd_per_day: float = 100.0
    # Price per 1,000 tokens for models whose provider reports no cost (local, self-hosted), and for the worst case.
    price_per_1k_tokens_usd: float = 0.0
    # The worst case assumes this many answer tokens when the request names none; at 90% of a budget answers are
    # held to `budget_tight_max_tokens`.
    budget_max_tokens: int = 512
    budget_tight_max_tokens: int = 128
    # POSTed a JSON alert the first time each day a budget reaches 80%, 90% and 100% (empty: log and metric only).
    budget_alert_webhook_url: str = ""
    # Request bounds by key tier (services/gateway/tiers.py): top_k, context and answer tokens, LLM options. A key
    # names its tier; JWT users and keys without one get `default_tier`; bootstrap keys are bound by none.
    tiers: dict[str, Tier] = Field(
        default_factory=lambda: {
            "free": Tier(max_top_k=10, max_context_tokens=1_000, max_answer_tokens=256, llm_options=False),
            "standard": Tier(max_top_k=50, max_context_tokens=4_000, max_answer_tokens=1_024),
            "unbounded": Tier(),
        }
    )
    default_tier: str = "standard"
    # JWT bearer tokens: accepted when an issuer is set. Keys: PEM or JWK JSON strings, and/or a JWKS URL.
    jwt_issuer: str = ""
    jwt_audience: str = "ragmesh"
    jwt_algorithms: list[Literal["RS256", "ES256", "HS256"]] = Field(default_factory=lambda: ["RS256", "ES256"])
    jwt_public_keys: list[str] = Field(default_factory=list)
    jwt_hs256_secret: str = ""
    jwt_jwks_url: str = ""
    jwt_jwks_cache_seconds: int = 300
    # An unknown key id refetches the JWKS (key rotation), at most this often.
    jwt_jwks_refresh_cooldown_seconds: float = 30.0
    jwt_leeway_seconds: float = 30.0
    # Claim names: which claim names the tenant, the user, the groups and the scopes (space-separated or a list).
    jwt_tenant_claim: str = "tenant"
    jwt_user_claim: str = "sub"
    jwt_groups_claim: str = "groups"
    jwt_scopes_claim: str = "scope"
    # Scopes of a token that carries no scope claim.
    jwt_default_scopes: list[str] = Field(default_factory=lambda: ["query"])
    embedder_target: str = "127.0.0.1:50051"
    retriever_target: str = "127.0.0.1:50052"
    generator_target: str = "127.0.0.1:50053"
    ingest_target: str = "127.0.0.1:50054"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Redis's password, when the URL carries none (the chart mounts it as a file from a Secret).
    redis_password: SecretStr | None = None
    # Every Redis call's deadline (connect and reply), never retried: a paused or lost Redis costs a request at most
    # this long. Then rate limits fall back to this replica's memory, caches are skipped, and budgets (which must be
    # exact) refuse with 503.
    redis_timeout_seconds: float = 0.5
    # The caches' own Redis (answers, semantic, retrieval), so that their eviction can never touch rate limits and
    # budgets: run it with allkeys-lru and the state's Redis with noeviction. Empty: the caches share redis_url.
    cache_redis_url: str = ""
    cache_redis_password: SecretStr | None = None
    max_question_chars: int = 2_000
    default_top_k: int = 5
    max_top_k: int = 50
    # /v1/search returns longer lists (evaluation, re-ranking by the caller).
    max_search_top_k: int = 100
    max_upload_bytes: int = 20 * 1024 * 1024
    # A batch upload (several files, or a manifest) in all: queued as one job, under the internal message limit.
    max_batch_bytes: int = 60 * 1024 * 1024
    # Every other request body (JSON): refused with 413 as soon as it passes this, chunked or not.
    max_body_bytes: int = 1024 * 1024
    # Requests in flight on this replica (streams included) past which the next is answered 503 at once; 0: no cap.
    max_in_flight_requests: int = 256
    # POST /v1/batch/search and /v1/batch/query: items per request (each counts against the rate limits), and how
    # many of a batch's items run at once.
    batch_max_items: int = 32
    batch_concurrency: int = 4
    # The MCP server at /mcp: how long one tool call may take (an `ask` includes the model's answer).
    mcp_tool_timeout_seconds: float = 300.0
    # Cosine similarity under which a retrieved chunk does not count as evidence; when no chunk clears it
    # the answer is no_context and no LLM is called.
    relevance_threshold: float = 0.30
    # Similarity at which confidence reaches 1.
    confident_similarity: float = 0.70
    # is_confused: the two best documents are within this similarity of each other and under confident_similarity.
    confused_margin: float = 0.02
    # Context handed to the generator, in the generator's tokens (the local model has a 2,048-token window).
    context_token_budget: int = 1_000
    max_passages: int = 5
    # Parent-document retrieval: a hit grows to its whole section when the section is at most this long.
    max_section_chars: int = 4_000
    # Contextual compression: sentences under this cosine similarity to the question are left out (each
    # passage keeps its best sentence). Tuned on SciFact train claims (eval/compression.py: 0.25 / 0.075 keeps
    # 90.8% of gold evidence sentences there and saves 53.3% of context tokens; test: 90.7% and 51.9%).
    compress_min_similarity: float = 0.25
    # ... and passages whose best sentence is this far under the context's best sentence go whole.
    compress_passage_margin: float = 0.075
    # "llm": the generator picks the sentences (one Extract call per question; similarity when it fails).
    compress_method: Literal["similarity", "llm"] = "similarity"
    compress_llm_timeout_seconds: float = 30.0
    # Self-query: ask the generator (Extract, JSON held to the schema) for fields the question names that the
    # parser could not fill; its answer is validated against the schema like any filter.
    self_query_llm: bool = True
    self_query_llm_timeout_seconds: float = 15.0
    # Conversations: a question that leans on earlier turns (QueryRequest.history, the earlier messages of a chat
    # completion) is made standalone before retrieval. "rules": resolved by rule (query/followups.py); "llm": the
    # generator rewrites it (held to a JSON schema; the rules when it fails or no budget is left); "off": never.
    conversation_rewrite: Literal["rules", "llm", "off"] = "rules"
    # The most recent turns read (older ones are dropped), and how long each may be.
    conversation_max_turns: int = 12
    conversation_turn_chars: int = 4_000
    # Questions about the collection itself ("how many documents per source since May?") are answered on /v1/query
    # from the catalogue (services/gateway/collection/) instead of by retrieval; POST /v1/collection/ask always.
    collection_questions: bool = True
    # Token counts of sentences seen lately, kept in each replica's memory (query/compression.py): how many, how long.
    token_count_cache_entries: int = Field(default=100_000, ge=1)
    token_count_cache_seconds: float = Field(default=600.0, gt=0)
    # The page for askers and operators at /ui/ (it holds no secret: it calls the API with the key a user gives it).
    page_enabled: bool = True
    # Text Embeddings Inference server with a cross-encoder (/rerank); empty: the stage is skipped.
    reranker_url: str = ""
    reranker_timeout_seconds: float = 5.0
    # Deadlines for the stages, in seconds.
    retrieval_timeout_seconds: float = 10.0
    generation_timeout_seconds: float = 120.0
    ingest_timeout_seconds: float = 600.0
    # How long a tenant's corpus version is kept in memory while ingest announces its changes on redis_url
    # (services/gateway/query/caches/versions.py): the most a change whose announcement Redis lost can go unseen
    # by the replicas that did not forward it. 0: ask the catalogue for every question.
    corpus_version_seconds: float = 2.0
    # How long an identical question in an unchanged corpus is answered from the cache.
    answer_cache_seconds: int = 3_600
    # How long a search's ranked hits are reused for the same search on an unchanged corpus (0: never).
    retrieval_cache_seconds: int = 3_600
    # Semantic cache: an earlier question whose embedding is at least this similar (cosine) serves its answer;
    # 1 turns it off. Chosen on eval/semantic_cache (python -m eval.semantic_cache, eval/results/semantic-cache.md):
    # the lowest that keeps false hits under 1% there. With the packaged all-MiniLM-L6-v2 that serves few
    # paraphrases: questions that differ in one word ("this year" / "last year") score up to 0.979 (0.971 with the
    # int8 embedder, whose tuning half alone would allow 0.97: 2% false hits on the held-out half, so 0.98 stays).
    semantic_cache_threshold: float = 0.98
    # How many recent questions per tenant, reader and corpus version it compares.
    semantic_cache_entries: int = 256
    # The learning loop's records (services/gateway/learning/): the key of the keyed hash that stands for askers
    # in them (empty: a fixed key; set one so that pseudonyms cannot be recomputed from user names), the tenants
    # whose questions are kept only as hashes, and the confidence under which an answer goes to the review queue.
    interaction_secret: SecretStr | None = None
    interaction_hashed_tenants: list[str] = Field(default_factory=list)
    review_confidence_below: float = Field(default=0.6, ge=0, le=1)
    # Dials (learning/steering.py): how far weight 1 moves a query vector along a dial's unit direction, and how
    # long a replica holds a tenant's dials in memory (one changed on another replica is seen within that).
    dial_strength: float = Field(default=0.5, gt=0, le=4)
    dial_cache_seconds: float = 5.0
    # Per-user vectors (learning/preferences.py): the weight of a user's own vector on their query vectors (0: off;
    # bounded, so that it leans retrieval and never replaces the question), and how many passages they must have
    # judged before it applies.
    user_vector_weight: float = Field(default=0.2, ge=0, le=1)
    user_vector_least_judged: int = Field(default=3, ge=1)
    # Query-side adapters (learning/retraining.py): the labelled answers a training needs.
    retrain_least_labels: int = Field(default=500, ge=1)
    # A version still "training" this long after it started was abandoned (its replica stopped): it is marked failed.
    retrain_abandoned_after_seconds: float = Field(default=3600.0, gt=0)
    # Learning artifacts (learning/artifacts.py): each trained adapter version's matrix, data snapshot, figures and
    # gate decision, under adapters/<tenant>/v<version>/. Empty keeps them in data_dir/artifacts (one machine);
    # s3://bucket/prefix in any S3-compatible store (the endpoint for MinIO and the like; keys, or boto3's usual chain
    # when empty), with the bucket's object versioning switched on at start.
    artifact_store_url: str = ""
    artifact_s3_endpoint_url: str = ""
    artifact_s3_region: str = ""
    artifact_s3_access_key_id: str = ""
    artifact_s3_secret_access_key: SecretStr | None = None
    artifact_versioning: bool = True
    # A canary adapter is rolled back once, over at least canary_least_answers of its answers, the share disliked
    # exceeds the served version's by more than canary_most_extra_negative.
    canary_least_answers: int = Field(default=20, ge=1)
    canary_most_extra_negative: float = Field(default=0.1, ge=0, le=1)
    # The OpenAI-compatible API's models (routes/openai.py): each a profile of /v1/query settings, by name.
    openai_profiles: dict[str, dict[str, object]] = Field(
        default_factory=lambda: {"ragmesh": {}, "ragmesh-retrieval": {"generate": False}}
    )
    # The model name POST /v1/embeddings answers to (the suite's embedder, whatever it runs).
    openai_embedding_model: str = "ragmesh-embed"
    # How often the generator is asked for its prompt version (part of every answer-cache key).
    generator_describe_seconds: float = 30.0

    @model_validator(mode="after")
    def _profiles_are_queries(self) -> "GatewaySettings":
        for name, profile in self.openai_profiles.items():
            try:
                QueryRequest(question="?", **profile)
            except ValidationError as exc:
                raise ValueError(f"openai_profiles[{name!r}] is not a set of /v1/query settings: {exc}") from exc
        return self

    @model_validator(mode="after")
    def _default_tier_exists(self) -> "GatewaySettings":
        if self.default_tier not in self.tiers:
            raise ValueError(f"default_tier {self.default_tier!r} is not one of the tiers: {sorted(self.tiers)}")
        return self

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'gateway.db').resolve()}"
