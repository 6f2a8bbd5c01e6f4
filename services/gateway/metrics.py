"""The gateway's business metrics, under the names the design documents give them.

Labels stay bounded: routes are templates (`/v1/documents/{document_id}`), models are the configured few, layers
and outcomes are fixed sets; never a tenant, user, key or question.
"""

from prometheus_client import Counter, Histogram

from services.gateway.models import QueryResponse

# From a cache hit (about 2 ms) to a long generation (a minute).
DURATION_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

REQUESTS = Counter("assistant_requests", "HTTP requests, by method, route template and status code.",
                   ["method", "route", "code"])  # fmt: skip
DURATION = Histogram(
    "assistant_request_duration_seconds",
    "Time to the response's last byte, by method and route template.",
    ["method", "route"],
    buckets=DURATION_BUCKETS,
)
ERRORS = Counter("assistant_errors", "Requests answered 5xx, by route template and status code.", ["route", "code"])
RATE_LIMITED = Counter("rate_limit_rejections", "Requests refused with 429, by the limit that refused them.", ["limit"])
NO_CONTEXT = Counter("no_context_responses", "Answers that found nothing relevant (no model was called).", ["route"])
DEGRADED = Counter("degraded_responses", "Answers served retrieval-only because generation failed.", ["route"])
CACHED = Counter("assistant_cached_responses", "Answers served from a cache, by layer.", ["layer"])
# The design documents' api_cost_total_dollars: a counter's samples must end in _total, so it reads
# api_cost_dollars_total.
COST = Counter("api_cost_dollars", "What model calls cost, in US dollars, by model.", ["model"])
TOKENS = Counter("api_tokens_used", "Tokens model calls used, by model and kind (prompt or completion).",
                 ["model", "kind"])  # fmt: skip
CONFIDENCE = Histogram("answer_confidence", "How strongly the evidence matched the question.", buckets=SCORE_BUCKETS)
QUALITY = Histogram(
    "answer_quality_score",
    "Groundedness of generated answers: the share of the answer's content words found in its best cited passage.",
    buckets=SCORE_BUCKETS,
)
RELEVANCE = Histogram(
    "context_relevance_score", "Similarity of each passage shown to the generator to the question.",
    buckets=SCORE_BUCKETS,
)  # fmt: skip


def observe_answer(route: str, response: QueryResponse) -> None:
    """Count one answer (query or verify) by what it was: cached, no-context, degraded; and its scores."""
    if response.cached:
        CACHED.labels("semantic" if response.cached == "semantic" else "answer").inc()
        return
    if response.no_context:
        NO_CONTEXT.labels(route).inc()
        return
    CONFIDENCE.observe(response.confidence)
    for citation in response.citations:
        RELEVANCE.observe(max(0.0, citation.score))
    if response.degraded:
        DEGRADED.labels(route).inc()
    elif response.answer and response.citations:
        QUALITY.observe(max((c.support for c in response.citations if c.cited), default=0.0))


def observe_model_use(model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float) -> None:
    """Count one model call's tokens and cost."""
    model = model or "unknown"
    TOKENS.labels(model, "prompt").inc(prompt_tokens)
    TOKENS.labels(model, "completion").inc(completion_tokens)
    COST.labels(model).inc(cost_usd)
