"""The public API's request and response bodies (they are the OpenAPI schema)."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.gateway.collection_models import CollectionAnswer

AnswerId = Annotated[
    str, Field(description="This answer's id: feedback on it goes to /v1/answers/{answer_id}/feedback.")
]


# A dial's name (learning/steering.py).
DIAL_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
DialWeights = Annotated[
    dict[
        Annotated[str, StringConstraints(pattern=DIAL_NAME)],
        Annotated[float, Field(ge=-1, le=1)],
    ],
    Field(
        max_length=8,
        description="Learned dials to turn (see /v1/admin/dials), by name: -1 towards a dial's negative side, 1 "
        "towards its positive side, 0 (or absent) leaves retrieval as it is.",
    ),
]


class Body(BaseModel):
    """A request body: a field the API does not know is a 422 naming it, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


class FilterValues(Body):
    """Match a field against several values."""

    any_of: list[str] = Field(default_factory=list, description="The field equals (for tags: contains) any of these.")
    none_of: list[str] = Field(default_factory=list, description="The field equals none of these.")
    gte: float | None = Field(default=None, description="Numeric attributes: at least this.")
    lte: float | None = Field(default=None, description="Numeric attributes: at most this.")


FilterSpec = dict[str, str | int | float | list[str] | FilterValues]
_FILTERS_DOC = (
    "Metadata filters by field: document_id, source, tags, licence, content_type, title, or an attribute the "
    "tenant's metadata schema declares. A string or list matches any of the values; a number matches exactly; "
    "{any_of, none_of, gte, lte} says more."
)


class SelfQueryResult(BaseModel):
    """What self-querying read out of the question."""

    filters: dict[str, dict[str, object]] = Field(description="The filters taken from the question, by field.")
    query: str = Field(description="The question without the phrases that became filters: what was searched.")
    method: Literal["parser", "parser+llm"] = Field(
        description="Who found them: the deterministic parser, or it and the LLM."
    )


# A conversation's turns, and each one's length, as a request may carry them (the gateway reads fewer: see
# conversation_max_turns and conversation_turn_chars).
MAX_TURNS, TURN_CHARS = 100, 20_000


class ConversationTurn(Body):
    """An earlier message of the conversation the question continues."""

    role: Literal["user", "assistant"]
    content: str = Field(max_length=TURN_CHARS)


class Rewrite(BaseModel):
    """A follow-up made standalone from the conversation before it was answered."""

    question: str = Field(description="The standalone question that was retrieved for and answered.")
    original: str = Field(description="The question as asked.")
    method: Literal["rules", "llm"] = Field(
        description="rules: resolved by rule (ordinals from the previous answer's list, else the previous question "
        "as context); llm: rewritten by the model."
    )


class QueryRequest(Body):
    """A question about the tenant's documents."""

    question: str = Field(description="The question, in natural language.", examples=["How do I rotate an API key?"])
    top_k: int | None = Field(default=None, description="Chunks to retrieve (default 5).")
    filters: FilterSpec = Field(
        default_factory=dict, description=_FILTERS_DOC, examples=[{"source": "handbook", "tags": ["security"]}]
    )
    self_query: bool = Field(
        default=True,
        description="Read metadata filters from the question (when the tenant declares a metadata schema). "
        "Filters given in `filters` win over extracted ones on the same field.",
    )
    self_query_llm: bool | None = Field(
        default=None,
        description="Let the LLM fill fields the question names that the parser could not (one model call, "
        "only then). Default: the gateway's setting.",
    )
    mode: Literal["hybrid", "dense", "sparse"] = Field(default="hybrid", description="Retrieval signals to use.")
    stream: bool = Field(default=False, description="Answer as server-sent events: tokens, then citations.")
    generate: bool = Field(default=True, description="False: retrieval only, the citations without an LLM answer.")
    max_tokens: int | None = Field(default=None, ge=1, le=2048, description="Upper bound on the answer's length.")
    expand: Literal["section", "chunk"] = Field(
        default="section", description="section: each hit grows to its parent section; chunk: the hit alone."
    )
    compress: bool = Field(
        default=True, description="Keep only the sentences of each passage that bear on the question."
    )
    compress_min_similarity: float | None = Field(
        default=None, ge=-1, le=1, description="Compression threshold (cosine); default from the gateway's settings."
    )
    compress_passage_margin: float | None = Field(
        default=None,
        ge=-1,
        le=2,
        description="Compression drops whole passages whose best sentence is this far under the best one "
        "(negative: never); default from the gateway's settings.",
    )
    compress_method: Literal["similarity", "llm"] | None = Field(
        default=None,
        description="similarity: keep the sentences closest to the question (embeddings; no LLM call). llm: the "
        "generator picks the sentences that bear on the question (JSON held to a schema), similarity when it "
        "fails. Default from the gateway's settings.",
    )
    context_tokens: int | None = Field(
        default=None, ge=50, le=32_000, description="Context budget in the generator's tokens (default 1,000)."
    )
    dials: DialWeights = Field(default_factory=dict)
    personalize: bool = Field(
        default=True, description="Move retrieval towards what your own feedback liked (see /v1/me/preferences)."
    )
    model: str | None = Field(
        default=None,
        max_length=200,
        description="Answer with this model first (one the generator allows; 422 otherwise); default: its own order.",
    )
    prompt_version: str | None = Field(
        default=None,
        pattern=r"^[a-z_]+-t\d+$",
        description="Answer under this version of the tenant's prompt registry (e.g. answer-t2) instead of the one "
        "served to you.",
    )
    history: list[ConversationTurn] = Field(
        default_factory=list,
        max_length=100,
        description='Earlier turns, oldest first: a follow-up ("and the second one?") is made standalone from them '
        "before retrieval, and the rewrite is returned in `rewrite`.",
    )


class SearchRequest(Body):
    """Retrieval alone: the ranked passages for a query, without thresholds or an answer."""

    query: str = Field(description="What to look for.")
    top_k: int = Field(default=10, description="Passages to return (1 to 100).")
    filters: FilterSpec = Field(default_factory=dict, description="As in /v1/query.")
    self_query: bool = Field(default=True, description="As in /v1/query.")
    self_query_llm: bool | None = Field(default=None, description="As in /v1/query.")
    mode: Literal["hybrid", "dense", "sparse"] = "hybrid"
    fusion: Literal["rrf", "dbsf"] = Field(default="rrf", description="How hybrid search merges its two lists.")
    dense_weight: float = Field(default=1.0, ge=0, le=10, description="Weight of the dense list in RRF.")
    sparse_weight: float = Field(default=1.0, ge=0, le=10, description="Weight of the sparse list in RRF.")
    rrf_k: int = Field(default=60, ge=1, le=1000, description="RRF constant.")
    mmr_lambda: float | None = Field(default=None, ge=0, le=1, description="MMR: 1 relevance only, lower more diverse.")
    candidates: int | None = Field(default=None, ge=1, le=1000, description="Candidates per list before fusion.")
    dials: DialWeights = Field(default_factory=dict)
    personalize: bool = Field(default=True, description="As in /v1/query.")


class SearchHit(BaseModel):
    document_id: str
    title: str
    chunk_index: int
    heading_path: list[str]
    source: str
    text: str
    char_start: int
    char_end: int
    score: float = Field(description="The ranking score of the chosen mode (RRF, DBSF, cosine or BM25).")
    similarity: float = Field(description="Cosine similarity of query and passage.")


class Usage(BaseModel):
    """What a request's model calls used: every call (answer, LLM self-query, LLM compression, verdict) summed."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    model_calls: int = 0


class SearchResponse(BaseModel):
    answer_id: AnswerId = ""
    hits: list[SearchHit]
    filters_applied: dict[str, dict[str, object]] = Field(
        default_factory=dict, description="Every filter the search ran with: given and extracted."
    )
    self_query: SelfQueryResult | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage, description="Model calls the search made (LLM self-query).")


class Quote(BaseModel):
    """A sentence shown to the generator, where it sits in the source document."""

    text: str
    char_start: int = Field(description="Offset in the document's extracted text.")
    char_end: int
    similarity: float | None = Field(default=None, description="Cosine similarity to the question.")


class ContextStats(BaseModel):
    """What the generator was shown, and what compression saved."""

    passages: int = 0
    tokens: int = Field(default=0, description="Context tokens sent, counted by the generator's tokenizer.")
    tokens_before_compression: int = 0
    tokenizer: str = ""
    sections_expanded: int = Field(default=0, description="Passages grown from a chunk to its parent section.")
    reranked: bool = Field(default=False, description="A cross-encoder re-ordered the hits.")
    compression: Literal["", "similarity", "llm"] = Field(
        default="", description="How the context was compressed (empty: it was not)."
    )


class Citation(BaseModel):
    """A retrieved passage, and whether the answer cites it (by its [index], or by its words when the
    model writes no markers)."""

    index: int = Field(description="The [n] marker the answer uses for this passage.")
    cited: bool = Field(description="True when the answer carries this passage's marker.")
    document_id: str
    title: str
    chunk_index: int
    heading_path: list[str]
    source: str
    quote: str = Field(description="The sentence of the passage that bears most on the question.")
    quotes: list[Quote] = Field(default_factory=list, description="Every sentence of the passage shown, with offsets.")
    text: str = Field(description="The passage as shown to the generator (compressed when compression is on).")
    char_start: int = Field(description="Offset of the passage in the document's extracted text.")
    char_end: int
    score: float = Field(description="Cosine similarity of question and passage.")
    support: float = Field(description="Share of the answer's content words found in this passage (0 to 1).")


class QueryResponse(BaseModel):
    answer_id: AnswerId = ""
    answer: str
    citations: list[Citation]
    confidence: float = Field(ge=0.0, le=1.0, description="How strongly the retrieved evidence matches the question.")
    no_context: bool = Field(description="Nothing relevant was found; no LLM was called.")
    is_confused: bool = Field(
        default=False,
        description="Retrieval is ambiguous: passages from different documents match about equally and weakly.",
    )
    degraded: bool = Field(default=False, description="Generation was unavailable; the answer is retrieval-only.")
    cached: bool | Literal["semantic"] = Field(
        default=False,
        description='true: the same question was answered on the same corpus; "semantic": a near-identical one was '
        "(see cached_question); false: answered afresh.",
    )
    cached_question: str | None = Field(
        default=None, description="With a semantic cache hit: the earlier question whose answer this is."
    )
    model: str = ""
    prompt_version: str = ""
    usage: Usage = Field(default_factory=Usage)
    filters_applied: dict[str, dict[str, object]] = Field(
        default_factory=dict, description="Every filter retrieval ran with: given and extracted."
    )
    self_query: SelfQueryResult | None = None
    rewrite: Rewrite | None = Field(default=None, description="With `history`: the follow-up made standalone.")
    variant: str = Field(
        default="",
        description="The tenant's pipeline variant (A/B arm) this answer was made with; empty: its defaults.",
    )
    collection: CollectionAnswer | None = Field(
        default=None,
        description="A question about the collection itself (how many documents per source?): the table that "
        "answers it, counted from the catalogue (see POST /v1/collection/ask); `answer` says it in words.",
    )
    context: ContextStats = Field(default_factory=ContextStats)
    timings_ms: dict[str, float] = Field(default_factory=dict)


class VerifyRequest(Body):
    """A claim to check against the tenant's documents."""

    claim: str = Field(
        description="A statement to check.", examples=["Aspirin lowers the risk of a first heart attack."]
    )
    top_k: int | None = Field(default=None, description="Chunks to retrieve (default 5).")
    filters: FilterSpec = Field(default_factory=dict, description="As in /v1/query.")
    self_query: bool = Field(default=True, description="As in /v1/query.")
    self_query_llm: bool | None = Field(default=None, description="As in /v1/query.")
    mode: Literal["hybrid", "dense", "sparse"] = "hybrid"
    expand: Literal["section", "chunk"] = "section"
    compress: bool = True
    context_tokens: int | None = Field(default=None, ge=50, le=32_000, description="As in /v1/query.")
    dials: DialWeights = Field(default_factory=dict)

    def as_query(self) -> QueryRequest:
        """The retrieval half of the check, as a question."""
        return QueryRequest(
            question=self.claim,
            generate=False,
            **self.model_dump(exclude={"claim"}),
        )


class VerifyResponse(BaseModel):
    """Whether the documents support or contradict the claim, and which passages decide it."""

    answer_id: AnswerId = ""
    verdict: Literal["SUPPORT", "CONTRADICT", "NOT_ENOUGH_INFO"] | None = Field(
        description="SUPPORT or CONTRADICT when a passage settles the claim; NOT_ENOUGH_INFO when none does (and "
        "always with no_context); null when the model was unavailable (degraded)."
    )
    citations: list[Citation] = Field(
        description="The passages shown to the model; `cited` marks those it named as deciding the verdict."
    )
    confidence: float = Field(ge=0.0, le=1.0, description="How strongly the retrieved evidence matches the claim.")
    no_context: bool = Field(description="Nothing relevant was found; no LLM was called.")
    is_confused: bool = False
    degraded: bool = Field(default=False, description="The model was unavailable; no verdict.")
    model: str = ""
    usage: Usage = Field(default_factory=Usage)
    filters_applied: dict[str, dict[str, object]] = Field(default_factory=dict)
    self_query: SelfQueryResult | None = None
    context: ContextStats = Field(default_factory=ContextStats)
    timings_ms: dict[str, float] = Field(default_factory=dict)


class Problem(BaseModel):
    """Every error body: what went wrong, in words."""

    detail: str
