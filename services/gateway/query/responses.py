"""An answer as the caller gets it: sanitized before anything else sees it, with its citations, the note on
ambiguous evidence, and what the request's model calls used."""

from services.gateway.models import QueryResponse, Usage
from services.gateway.query.evidence import Evidence
from services.gateway.query.generation import Generated
from services.gateway.query.safety import sanitize_counted

NO_CONTEXT_ANSWER = "I could not find anything about this in your documents."
DEGRADED_ANSWER = "The answer could not be generated right now; these are the most relevant passages."
CONFUSED_NOTE = (
    "Note: several documents match this question about equally well, and none closely; they may not agree. "
    "Check the cited passages."
)


def answer_response(
    usage: Usage, evidence: Evidence, answer: str, generated: Generated | None = None, **extra: object
) -> QueryResponse:
    """The response for `answer` on `evidence`."""
    # Before anything else sees it (citations, the cache, the caller): no images, no links the passages lack.
    answer = sanitize_counted(answer, evidence.allowed_urls())
    citations = evidence.citations(answer)
    if evidence.is_confused and answer:
        answer = f"{answer}\n\n{CONFUSED_NOTE}"
    if generated is not None:
        extra.update(model=generated.model, prompt_version=generated.prompt_version)
    return QueryResponse(answer=answer, citations=citations, usage=usage, **evidence.summary(), **extra)
