"""The OpenAI chat-completions shape over the query service: the model name picks a profile (QueryRequest settings),
the last user message is the question, and the answer comes back as an assistant message that keeps its citations
(`citations`, and everything else in `ragmesh`); streamed, as chat.completion.chunk events whose last chunk carries
the citations before [DONE]. No HTTP here: the route in routes/openai.py hands over and sends back."""

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator

import numpy as np

from services.gateway.models import MAX_TURNS, TURN_CHARS, ConversationTurn, QueryRequest, QueryResponse
from services.gateway.openai_models import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    CompletionUsage,
    Embedding,
    EmbeddingList,
    EmbeddingRequest,
    ModelCard,
    ModelList,
    RagmeshExtension,
)
from services.runtime.errors import InvalidArgument, NotFound


def model_list(profiles: dict[str, dict], embedding_model: str) -> ModelList:
    return ModelList(data=[ModelCard(id=name) for name in sorted([*profiles, embedding_model])])


def embedding_texts(request: EmbeddingRequest, embedding_model: str) -> list[str]:
    """The texts of an embeddings request, checked before the embedder sees them."""
    if request.model != embedding_model:
        raise NotFound(f"unknown embedding model {request.model!r}; this gateway's: {embedding_model}")
    texts = request.texts()
    if not 1 <= len(texts) <= 256:
        raise InvalidArgument(f"input must hold 1 to 256 texts, got {len(texts)}")
    if empty := [n for n, text in enumerate(texts) if not text.strip()]:
        raise InvalidArgument(f"input texts {empty} are empty")
    return texts


def embedding_list(vectors: list[list[float]], model: str, encoding: str) -> EmbeddingList:
    def encoded(vector: list[float]) -> list[float] | str:
        if encoding == "base64":
            return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
        return vector

    return EmbeddingList(data=[Embedding(index=n, embedding=encoded(v)) for n, v in enumerate(vectors)], model=model)


def query_of(request: ChatCompletionRequest, profiles: dict[str, dict], stream: bool) -> QueryRequest:
    """The question of a chat request, under the profile its model names."""
    if request.model not in profiles:
        raise NotFound(f"unknown model {request.model!r}; this gateway's models: {', '.join(sorted(profiles))}")
    said = [(m.role, m.text().strip()) for m in request.messages if m.role in ("user", "assistant") and m.text()]
    last = max((n for n, (role, text) in enumerate(said) if role == "user" and text), default=None)
    if last is None:
        raise InvalidArgument("messages must hold a user message with text: it is the question")
    limit = request.max_completion_tokens or request.max_tokens
    # The turns before the question: a follow-up is made standalone from them (query/conversation.py).
    history = [ConversationTurn(role=role, content=text[:TURN_CHARS]) for role, text in said[:last][-MAX_TURNS:]]
    return QueryRequest(
        **{**profiles[request.model], "question": said[last][1], "stream": stream, "history": history},
        **({"max_tokens": limit} if limit else {}),
    )


def _extension(response: QueryResponse, question: str) -> RagmeshExtension:
    return RagmeshExtension(
        citations=response.citations,
        confidence=response.confidence,
        no_context=response.no_context,
        is_confused=response.is_confused,
        degraded=response.degraded,
        answer_id=response.answer_id,
        question=response.rewrite.question if response.rewrite else question,
        rewrite=response.rewrite,
        model=response.model,
        prompt_version=response.prompt_version,
    )


def completion(response: QueryResponse, model: str, question: str) -> ChatCompletion:
    message = AssistantMessage(
        content=response.answer, citations=response.citations, ragmesh=_extension(response, question)
    )
    return ChatCompletion(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=model,
        choices=[Choice(message=message)],
        usage=CompletionUsage.of(response.usage),
    )


async def chunks(events: AsyncIterator[dict], model: str, question: str) -> AsyncIterator[str]:
    """The query service's stream (token, citations, done, error events) as OpenAI chunks, then [DONE]."""
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time())}
    head["model"] = model

    def chunk(delta: dict, finish: str | None = None, **extra: object) -> str:
        body = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    async for event in events:
        if event["event"] == "token":
            yield chunk({"content": json.loads(event["data"])["text"]})
        elif event["event"] == "done":
            response = QueryResponse.model_validate_json(event["data"])
            extension = _extension(response, question).model_dump(mode="json")
            usage = CompletionUsage.of(response.usage).model_dump()
            yield chunk({}, "stop", citations=extension["citations"], ragmesh=extension, usage=usage)
        elif event["event"] == "error":
            yield chunk({}, "stop", ragmesh={"error": json.loads(event["data"])})
    yield "data: [DONE]\n\n"
