"""The learning loop's bodies: feedback on an answer, the review queue, reviewers' labels, and dials."""

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from services.gateway.models import Body

Indices = list[int]


class FeedbackRequest(Body):
    """What the asker thought of an answer: at least one of thumb, rating, comment or passage judgements."""

    thumb: Literal["up", "down"] | None = Field(default=None, description="Thumbs up or down.")
    rating: int | None = Field(default=None, ge=1, le=5, description="Or a rating, 1 (bad) to 5 (good).")
    comment: str = Field(default="", max_length=2000)
    relevant: Indices = Field(
        default_factory=list,
        max_length=100,
        description="Citation numbers ([n]; for a search, hit positions from 1) "
        "of passages that answered the question.",
    )
    not_relevant: Indices = Field(default_factory=list, max_length=100, description="Those that did not.")

    @model_validator(mode="after")
    def _says_something(self) -> "FeedbackRequest":
        if (
            self.thumb is None
            and self.rating is None
            and not self.comment.strip()
            and not self.relevant + self.not_relevant
        ):
            raise ValueError("give a thumb, a rating, a comment or passages judged relevant or not")
        if both := sorted(set(self.relevant) & set(self.not_relevant)):
            raise ValueError(f"passages {both} are marked both relevant and not relevant")
        return self

    @property
    def negative(self) -> bool:
        """A thumbs-down or a rating of 2 or less: the answer goes to the review queue."""
        return self.thumb == "down" or (self.rating is not None and self.rating <= 2)


class FeedbackRecord(BaseModel):
    id: int
    answer_id: str
    at: str
    thumb: Literal["up", "down"] | None
    rating: int | None
    comment: str
    relevant: Indices
    not_relevant: Indices


class PassageRef(Body):
    """A passage by document and chunk."""

    document_id: str = Field(min_length=1, max_length=200)
    chunk_index: int = Field(ge=0)


class ReviewPassage(BaseModel):
    index: int = Field(description="Its citation number in the answer (hit position for a search).")
    document_id: str
    chunk_index: int
    score: float
    cited: bool


class LabelRequest(Body):
    """A reviewer's verdict on an answer: whether it was right and which passages answer the question."""

    correct: bool | None = Field(default=None, description="Whether the answer was right (null: not judged).")
    relevant: Indices = Field(
        default_factory=list, max_length=100, description="Citation numbers of relevant passages."
    )
    missing: list[PassageRef] = Field(
        default_factory=list, max_length=100, description="Relevant passages the answer did not retrieve."
    )
    note: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _says_something(self) -> "LabelRequest":
        if self.correct is None and not self.relevant and not self.missing:
            raise ValueError("say whether the answer was correct or which passages are relevant")
        return self


class LabelRecord(BaseModel):
    answer_id: str
    reviewer: str
    at: str
    correct: bool | None
    relevant: list[PassageRef] = Field(description="The relevant passages: a verified label that training uses.")
    note: str


class ReviewItem(BaseModel):
    answer_id: str
    at: str
    route: str
    question: str | None = Field(description="Null when the tenant keeps only questions' hashes.")
    answer: str
    confidence: float | None
    no_context: bool
    is_confused: bool
    degraded: bool
    model: str
    prompt_version: str
    reasons: list[Literal["low_confidence", "confused", "negative_feedback"]]
    passages: list[ReviewPassage]
    feedback: list[FeedbackRecord]
    label: LabelRecord | None


class ReviewList(BaseModel):
    items: list[ReviewItem]
    total: int


class DialPair(Body):
    """Two texts: the one the dial's positive side should rank higher, and the one it should rank lower."""

    positive: str = Field(min_length=1, max_length=4000)
    negative: str = Field(min_length=1, max_length=4000)


class LearnDialRequest(Body):
    """Contrastive pairs to learn a dial from: a few dozen are enough."""

    pairs: list[DialPair] = Field(min_length=4, max_length=2000)
    description: str = Field(default="", max_length=500, description="What turning the dial up does.")


class DialInfo(BaseModel):
    name: str
    revision: str = Field(description="Changes whenever the dial is learned again.")
    description: str
    pairs: int
    held_out_pairs: int = Field(description="Pairs measured by 5-fold cross-validation (0 under 10 pairs).")
    held_out_accuracy: float = Field(description="Share of held-out pairs the dial orders the right way.")
    model: str = Field(description="The embedding model the dial was learned in.")
    created_at: str
    created_by: str


class DialList(BaseModel):
    dials: list[DialInfo]


class Preferences(BaseModel):
    """What your own feedback taught the suite about you."""

    liked: int = Field(description="Passages you judged relevant (or cited under a thumbs-up).")
    disliked: int = Field(description="Passages you judged not relevant (or cited under a thumbs-down).")
    applied: bool = Field(description="Whether your questions are moved towards what you liked.")
    needed: int = Field(description="Judgements needed before they are.")
    updated_at: str | None


class AdapterInfo(BaseModel):
    """A version of the tenant's query-side adapter."""

    version: int
    status: Literal["training", "failed", "rejected", "ready", "canary", "serving", "retired"]
    progress: str
    model: str
    splits: dict[str, int] = Field(description="Labelled answers per split (train, validation, test).")
    snapshot: str = Field(description="Digest of the labels it learned from.")
    scores: dict[str, dict[str, float]] = Field(description="Per evaluation set: nDCG@10 served and candidate.")
    reasons: list[str] = Field(description="Why the gate aborted, when it did.")
    share: float
    created_at: str
    created_by: str
    served_at: str | None
    artifact: str | None = Field(
        description="The key prefix of the version's artifact in the object store (matrix, data snapshot, manifest); "
        "null until it is stored."
    )


class AdapterArtifact(BaseModel):
    """A version's artifact as the object store holds it."""

    location: str = Field(description="Where the manifest is (a file URL, or s3://bucket/key).")
    manifest: dict = Field(
        description="Model, dimension, epochs, data snapshot digest and split sizes, gate scores and decision, the "
        "stored files with their sha256."
    )


class AdapterList(BaseModel):
    adapters: list[AdapterInfo]


class ServeRequest(Body):
    """Serve a version: to everyone (share 1), or to a sticky share of users as a canary."""

    share: float = Field(default=1.0, gt=0, le=1)


class VersionFigures(BaseModel):
    """How the answers of one adapter version (0: none) fared with their askers."""

    version: int
    answers: int = 0
    negative: int = Field(default=0, description="Answers with a thumbs-down or a rating of 1-2.")
    positive: int = Field(default=0, description="Answers with a thumbs-up or a rating of 4-5.")
    no_context: int = 0
    cost_usd: float = 0.0

    @property
    def negative_rate(self) -> float:
        return self.negative / self.answers if self.answers else 0.0


class FiguresList(BaseModel):
    versions: list[VersionFigures]


class PromptCreate(Body):
    """A new version of the tenant's instruction for a role (the generator adds its leak canary)."""

    instruction: str = Field(min_length=20, max_length=4000)
    note: str = Field(default="", max_length=500, description="What changed, for whoever reads the registry.")


class PromptInfo(BaseModel):
    role: str
    version: str
    instruction: str
    note: str
    status: Literal["draft", "canary", "serving", "retired"]
    share: float = Field(description="The share of users a canary is served to (sticky per user); 1 when serving.")
    created_at: str
    created_by: str
    served_at: str | None


class PromptList(BaseModel):
    built_in: str = Field(description="The generator's own version, answered with when nothing is served.")
    prompts: list[PromptInfo]


class PromptFigures(BaseModel):
    """How the answers written under one prompt version fared (the A/B comparison)."""

    version: str
    answers: int = 0
    positive_rate: float = Field(default=0.0, description="Share of answers with a thumbs-up or a rating of 4-5.")
    negative_rate: float = Field(default=0.0, description="Share with a thumbs-down or a rating of 1-2.")
    no_context_rate: float = 0.0
    cited_rate: float = Field(default=0.0, description="Share of answers that cite at least one passage.")
    latency_ms_p50: float = Field(default=0.0, description="Median time the gateway's stages took, in ms.")
    cost_usd: float = 0.0


class PromptFiguresList(BaseModel):
    versions: list[PromptFigures]


class EvaluationReport(BaseModel):
    """The scheduled evaluation: the served adapter against the canary on the tenant's verified labels."""

    at: str
    labelled: int = Field(description="Verified labels the evaluation asked (the tenant's golden set).")
    served_version: int = Field(description="The adapter served to everyone (0: none).")
    canary_version: int | None = None
    ndcg_served: float | None = None
    ndcg_canary: float | None = None
    rolled_back: bool = False
    reasons: list[str] = Field(default_factory=list)
    note: str = ""


class VariantCreate(Body):
    """A pipeline variant: /v1/query options served to a share of users (see learning/variants.py)."""

    options: dict[str, object] = Field(
        description='/v1/query options it sets where a request sets none, e.g. {"top_k": 8, "compress": false}.'
    )
    note: str = Field(default="", max_length=500)


class VariantInfo(BaseModel):
    version: str
    options: dict[str, object]
    note: str
    status: Literal["draft", "canary", "serving", "retired"]
    share: float
    created_at: str
    created_by: str
    served_at: str | None


class VariantList(BaseModel):
    variants: list[VariantInfo]
