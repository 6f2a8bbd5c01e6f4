"""The bodies of POST /v1/collection/ask: a question about the collection (or a plan), and the table that answers
it, with chart data for the page."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.runtime.collection_plans import CollectionPlan


class CollectionRequest(BaseModel):
    """Either a question ("how many documents per source since May?") or the plan itself."""

    model_config = ConfigDict(extra="forbid")

    question: str | None = Field(default=None, max_length=2_000)
    plan: CollectionPlan | None = None

    @model_validator(mode="after")
    def _one(self) -> "CollectionRequest":
        if (self.question is None) == (self.plan is None):
            raise ValueError("send either `question` or `plan`")
        return self


class Series(BaseModel):
    name: str
    values: list[int]


class Chart(BaseModel):
    """What the page draws: one number, bars (one group), a line (time buckets) or a table (two groups)."""

    kind: Literal["number", "bar", "line", "table"]
    labels: list[str] = Field(default_factory=list)
    series: list[Series] = Field(default_factory=list)


class CollectionAnswer(BaseModel):
    question: str = ""
    plan: CollectionPlan = Field(description="The plan that ran (checked against the tenant's schema first).")
    columns: list[str]
    rows: list[list[str | int]]
    matched: int = Field(description="Documents that passed the filters, each counted once.")
    groups: int = Field(description="Groups before the plan's limit.")
    chart: Chart
    answer: str = Field(description="The table in a sentence.")
