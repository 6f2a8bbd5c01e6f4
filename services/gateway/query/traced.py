"""What a finished answer puts on its span: who asked (the tenant, never a key), which question (its hash; the
text only when configured), what it found and cost, and how it was served."""

import hashlib

from opentelemetry.trace import Span

from services.gateway.models import QueryResponse


def question_hash(question: str) -> str:
    """A short, stable hash of the question: repeats can be found without the text leaving the gateway."""
    return hashlib.sha256(question.strip().lower().encode()).hexdigest()[:16]


def described(span: Span, question: str, response: QueryResponse, with_text: bool = False) -> None:
    """Set the answer's attributes on `span` (a no-op when the span is not recorded)."""
    if not span.is_recording():
        return
    cited = [c.document_id for c in response.citations if c.cited]
    span.set_attributes(
        {
            "question.hash": question_hash(question),
            "answer.cached": str(response.cached).lower(),
            "answer.degraded": response.degraded,
            "answer.no_context": response.no_context,
            "answer.is_confused": response.is_confused,
            "answer.confidence": response.confidence,
            "answer.model": response.model,
            "answer.prompt_version": response.prompt_version,
            "retrieval.document_ids": list(dict.fromkeys(c.document_id for c in response.citations)),
            "answer.cited_document_ids": list(dict.fromkeys(cited)),
            "usage.prompt_tokens": response.usage.prompt_tokens,
            "usage.completion_tokens": response.usage.completion_tokens,
            "usage.cost_usd": response.usage.cost_usd,
        }
    )
    if with_text:
        span.set_attribute("question.text", question)
