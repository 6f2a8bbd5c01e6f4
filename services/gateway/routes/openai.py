"""The OpenAI-compatible API: POST /v1/chat/completions (streamed or not), POST /v1/embeddings and GET /v1/models,
with the gateway's own keys (`Authorization: Bearer <key>`, as the OpenAI SDKs send them), limits and budgets."""

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ragmesh.embedder.v1 import embedder_pb2
from services.gateway import openai_compat
from services.gateway.deps import AnswerCaller, ClientsDep, QueryCaller, SearchCaller, ServiceDep, SettingsDep
from services.gateway.openai_models import (
    ChatCompletion,
    ChatCompletionRequest,
    EmbeddingList,
    EmbeddingRequest,
    ModelList,
)
from services.gateway.routes import problems

router = APIRouter(prefix="/v1", tags=["openai"], responses=problems(400, 401, 403, 404, 422, 429))


@router.get("/models", response_model=ModelList)
async def list_models(caller: QueryCaller, settings: SettingsDep) -> ModelList:
    """The gateway's profiles, as models: each names the retrieval settings, prompt and model it answers with."""
    return openai_compat.model_list(settings.openai_profiles, settings.openai_embedding_model)


@router.post("/embeddings", response_model=EmbeddingList, responses=problems(503))
async def embeddings(body: EmbeddingRequest, caller: SearchCaller, clients: ClientsDep, settings: SettingsDep):
    """Vectors from the suite's embedder (the index's own model), as floats or base64 (what the OpenAI SDKs ask)."""
    texts = openai_compat.embedding_texts(body, settings.openai_embedding_model)
    reply = await clients.embedder.Embed(
        embedder_pb2.EmbedRequest(texts=texts, kind=embedder_pb2.INPUT_KIND_DOCUMENT),
        timeout=settings.retrieval_timeout_seconds,
    )
    vectors = [list(vector.values) for vector in reply.vectors]
    return openai_compat.embedding_list(vectors, body.model, body.encoding_format)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={200: {"content": {"text/event-stream": {}}, "description": "A completion, or chunks when streaming."}},
)
async def chat_completions(
    body: ChatCompletionRequest, caller: AnswerCaller, service: ServiceDep, settings: SettingsDep
):
    """An answer from the tenant's documents to the last user message, in OpenAI's shape, citations kept."""
    query = openai_compat.query_of(body, settings.openai_profiles, body.stream)
    if body.stream:
        events = await service.stream(caller, query)
        return StreamingResponse(
            openai_compat.chunks(events, body.model, query.question), media_type="text/event-stream"
        )
    return openai_compat.completion(await service.answer(caller, query), body.model, query.question)
