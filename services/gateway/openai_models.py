"""The OpenAI-compatible bodies (POST /v1/chat/completions, GET /v1/models), with ragmesh's extension: the answer's
citations, confidence, no_context and is_confused on the message (and, when streaming, on a last chunk before
[DONE]). Unknown OpenAI fields are accepted and ignored, as OpenAI-compatible servers do: clients send many."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.models import Citation, Rewrite, Usage


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(part.get("text", "") for part in self.content if part.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(description="A profile of this gateway (GET /v1/models).")
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=2048)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=2048)


class RagmeshExtension(BaseModel):
    """What the answer rests on: the OpenAI message has no field for it."""

    citations: list[Citation]
    confidence: float
    no_context: bool
    is_confused: bool
    degraded: bool
    answer_id: str
    question: str = Field(
        description="The question that was searched: the last user message, made standalone from the earlier turns "
        "when it follows up on them (see `rewrite`)."
    )
    rewrite: Rewrite | None = None
    model: str = Field(default="", description="The model that wrote the answer (the profile's, or the generator's).")
    prompt_version: str = ""


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    citations: list[Citation] = Field(description="ragmesh extension: the passages the answer cites.")
    ragmesh: RagmeshExtension


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, usage: Usage) -> "CompletionUsage":
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.prompt_tokens + usage.completion_tokens,
        )


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "ragmesh"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(description="The gateway's embedding model (GET /v1/models).")
    input: str | list[str] = Field(description="A text, or up to 256 texts; none empty.")
    encoding_format: Literal["float", "base64"] = "float"

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else self.input


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="Floats, or base64 of little-endian float32 when asked.")


class EmbeddingUsage(BaseModel):
    prompt_tokens: int = Field(default=0, description="Not counted: the embedder runs in the suite, at no cost.")
    total_tokens: int = 0


class EmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage = Field(default_factory=EmbeddingUsage)
