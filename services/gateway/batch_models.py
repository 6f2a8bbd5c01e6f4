"""The bodies of POST /v1/batch/search and /v1/batch/query: many requests of /v1/search or /v1/query in one, each
answered (or refused) on its own, in the order sent."""

from pydantic import BaseModel, Field

from services.gateway.models import Body, QueryRequest, QueryResponse, SearchRequest, SearchResponse


class BatchSearchRequest(Body):
    requests: list[SearchRequest] = Field(description="Searches, each as POST /v1/search takes it.", min_length=1)


class BatchQueryRequest(Body):
    requests: list[QueryRequest] = Field(
        description="Questions, each as POST /v1/query takes it (not streamed).", min_length=1
    )


class ItemError(BaseModel):
    status: int = Field(description="The HTTP status this item alone would have been answered with.")
    detail: str


class BatchStats(BaseModel):
    items: int
    failed: int
    embedded: int = Field(description="Texts embedded in the batch's one call to the embedder.")
    timings_ms: dict[str, float] = Field(default_factory=dict)


class SearchResult(BaseModel):
    index: int = Field(description="The item's place in `requests`.")
    response: SearchResponse | None = None
    error: ItemError | None = None


class QueryResult(BaseModel):
    index: int
    response: QueryResponse | None = None
    error: ItemError | None = None


class BatchSearchResponse(BaseModel):
    results: list[SearchResult]
    batch: BatchStats


class BatchQueryResponse(BaseModel):
    results: list[QueryResult]
    batch: BatchStats
