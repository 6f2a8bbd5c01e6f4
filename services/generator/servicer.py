"""gRPC adapter from GeneratorService messages to the AnswerWriter."""

import json
from collections.abc import AsyncIterator

import grpc
from prometheus_client import Gauge

from ragmesh.generator.v1 import generator_pb2, generator_pb2_grpc
from services.generator.llm import Answer, AnswerWriter, parse_schema
from services.generator.prompts import (
    BUILT_IN,
    MAX_INSTRUCTION_CHARS,
    PROMPT_VERSION,
    Example,
    Passage,
    Template,
    tenant_template,
)
from services.runtime.errors import InvalidArgument

MAX_QUESTION_CHARS = 4_000
MAX_TOKENS_LIMIT = 4_096
MAX_COUNT_TEXTS = 512
MAX_SCHEMA_CHARS = 20_000
MAX_EXAMPLES = 8
# What the generator's HPA can scale on through a metrics adapter (the chart's autoscaling.inFlightTarget): CPU says
# little about a replica waiting on a model provider.
IN_FLIGHT = Gauge("ragmesh_generator_in_flight_generations", "Answers this replica is generating now.")


def _template(request: generator_pb2.GenerateRequest) -> Template:
    """The tenant's instruction when the request carries one (with its version), else the built-in."""
    if not request.instruction.strip():
        return BUILT_IN
    if len(request.instruction) > MAX_INSTRUCTION_CHARS:
        raise InvalidArgument(f"instruction is over {MAX_INSTRUCTION_CHARS} characters")
    if not request.prompt_version.strip():
        raise InvalidArgument("an instruction needs its prompt_version")
    return tenant_template(request.instruction, request.prompt_version)


def _validate(request: generator_pb2.GenerateRequest) -> list[Passage]:
    if not request.question.strip():
        raise InvalidArgument("question is empty")
    if len(request.question) > MAX_QUESTION_CHARS:
        raise InvalidArgument(f"question is {len(request.question)} characters; the limit is {MAX_QUESTION_CHARS}")
    if request.max_tokens > MAX_TOKENS_LIMIT:
        raise InvalidArgument(f"max_tokens is {request.max_tokens}; the limit is {MAX_TOKENS_LIMIT}")
    if request.HasField("temperature") and not 0.0 <= request.temperature <= 2.0:
        raise InvalidArgument("temperature must be between 0 and 2")
    return [Passage(p.index, p.title, p.text) for p in request.passages]


def _response(answer: Answer, template: Template) -> generator_pb2.GenerateResponse:
    return generator_pb2.GenerateResponse(
        text=answer.text,
        model=answer.model,
        finish_reason=answer.finish_reason,
        prompt_version=template.version,
        model_first_text_ms=answer.first_text_ms,
        usage=generator_pb2.Usage(
            prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens, cost_usd=answer.cost_usd
        ),
    )


class GeneratorServicer(generator_pb2_grpc.GeneratorServiceServicer):
    """Validates a request and asks the writer for the answer."""

    def __init__(self, writer: AnswerWriter) -> None:
        self._writer = writer

    async def Generate(
        self, request: generator_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> generator_pb2.GenerateResponse:
        passages, template = _validate(request), _template(request)
        temperature = request.temperature if request.HasField("temperature") else None
        with IN_FLIGHT.track_inprogress():
            answer = await self._writer.answer(
                request.question, passages, request.max_tokens, temperature, request.economy, template, request.model
            )
        return _response(answer, template)

    async def GenerateStream(
        self, request: generator_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[generator_pb2.GenerateStreamResponse]:
        passages, template = _validate(request), _template(request)
        temperature = request.temperature if request.HasField("temperature") else None
        deltas = self._writer.stream(
            request.question, passages, request.max_tokens, temperature, request.economy, template, request.model
        )
        with IN_FLIGHT.track_inprogress():
            async for delta in deltas:
                if delta.final is not None:
                    yield generator_pb2.GenerateStreamResponse(final=_response(delta.final, template))
                else:
                    yield generator_pb2.GenerateStreamResponse(delta=delta.text)

    async def CountTokens(
        self, request: generator_pb2.CountTokensRequest, context: grpc.aio.ServicerContext
    ) -> generator_pb2.CountTokensResponse:
        if len(request.texts) > MAX_COUNT_TEXTS:
            raise InvalidArgument(f"at most {MAX_COUNT_TEXTS} texts per call, got {len(request.texts)}")
        counts, tokenizer = await self._writer.count_tokens(list(request.texts))
        return generator_pb2.CountTokensResponse(counts=counts, tokenizer=tokenizer)

    async def Extract(
        self, request: generator_pb2.ExtractRequest, context: grpc.aio.ServicerContext
    ) -> generator_pb2.ExtractResponse:
        if not request.instruction.strip() or not request.text.strip():
            raise InvalidArgument("instruction and text are both required")
        if len(request.text) > MAX_QUESTION_CHARS:
            raise InvalidArgument(f"text is {len(request.text)} characters; the limit is {MAX_QUESTION_CHARS}")
        if request.max_tokens > MAX_TOKENS_LIMIT:
            raise InvalidArgument(f"max_tokens is {request.max_tokens}; the limit is {MAX_TOKENS_LIMIT}")
        if len(request.json_schema) > MAX_SCHEMA_CHARS:
            raise InvalidArgument(f"json_schema is over {MAX_SCHEMA_CHARS} characters")
        if len(request.examples) > MAX_EXAMPLES:
            raise InvalidArgument(f"at most {MAX_EXAMPLES} examples, got {len(request.examples)}")
        schema = parse_schema(request.json_schema)
        extraction = await self._writer.extract(
            request.instruction,
            request.text,
            [Passage(p.index, p.title, p.text) for p in request.passages],
            schema,
            [Example(e.text, e.json) for e in request.examples],
            request.max_tokens,
            request.role,
        )
        return generator_pb2.ExtractResponse(
            json=json.dumps(extraction.data),
            model=extraction.model,
            constrained=extraction.constrained,
            usage=generator_pb2.Usage(
                prompt_tokens=extraction.prompt_tokens,
                completion_tokens=extraction.completion_tokens,
                cost_usd=extraction.cost_usd,
            ),
        )

    async def Describe(
        self, request: generator_pb2.DescribeRequest, context: grpc.aio.ServicerContext
    ) -> generator_pb2.DescribeResponse:
        choice = self._writer.choice
        primary, *fallbacks = choice.models
        input_price, output_price = choice.prices()
        return generator_pb2.DescribeResponse(
            model=primary,
            prompt_version=PROMPT_VERSION,
            fallbacks=fallbacks,
            input_usd_per_token=input_price,
            output_usd_per_token=output_price,
            economy_model=self._writer.economy_model,
            allowed_models=choice.allowed,
        )
