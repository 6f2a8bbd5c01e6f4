"""The generator over real gRPC. The paid-API boundary is LiteLLM's own mock_response; a dead endpoint is real."""

import contextlib
import json

import grpc
import pytest

from ragmesh.generator.v1 import generator_pb2, generator_pb2_grpc
from ragmesh.suite import free_port
from services.generator.config import GeneratorSettings
from services.generator.prompts import COMPLETION_STOP, Example, Passage, completion_prompt, extraction_prompt
from services.generator.server import create_server
from tests.conftest import MOCK_ANSWER
from tests.servers import running

PASSAGES = [generator_pb2.Passage(index=1, title="Key rotation", text="API keys are rotated every 45 days.")]


@pytest.fixture
async def generator(generator_target):
    async with grpc.aio.insecure_channel(generator_target) as channel:
        yield generator_pb2_grpc.GeneratorServiceStub(channel)


async def test_generate_returns_text_usage_and_model(generator):
    reply = await generator.Generate(generator_pb2.GenerateRequest(question="How often?", passages=PASSAGES))
    assert reply.text == MOCK_ANSWER
    assert reply.model == "text-completion-openai/gemma-3-270m"
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0


async def test_tokens_are_counted_per_text_and_the_tokenizer_is_named(generator):
    reply = await generator.CountTokens(generator_pb2.CountTokensRequest(texts=["one two three", "", "a " * 50]))
    assert len(reply.counts) == 3 and reply.counts[1] == 0 and 0 < reply.counts[0] < reply.counts[2]
    # No model server in the mocked setup: LiteLLM's tokenizer, marked as an approximation for Gemma.
    assert reply.tokenizer == "text-completion-openai/gemma-3-270m (approximate: cl100k)"
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await generator.CountTokens(generator_pb2.CountTokensRequest(texts=["x"] * 513))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_stream_sends_deltas_then_one_final_message(generator):
    events = [
        e
        async for e in generator.GenerateStream(generator_pb2.GenerateRequest(question="How often?", passages=PASSAGES))
    ]
    deltas = [e.delta for e in events if e.HasField("delta")]
    finals = [e.final for e in events if e.HasField("final")]
    # A short answer may come as one delta: the generator keeps back a tail that could hold a prompt leak
    # (tests/generator/test_leaks.py streams a longer one in several).
    assert deltas and len(finals) == 1 and events[-1].HasField("final")
    assert "".join(deltas) == finals[0].text == MOCK_ANSWER
    # How long the model took to its first text (the share of the wait no stage before it adds to).
    assert finals[0].model_first_text_ms > 0


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        ({"question": "  "}, "question is empty"),
        ({"question": "x" * 4001}, "the limit is 4000"),
        ({"question": "ok", "max_tokens": 5000}, "max_tokens is 5000"),
        ({"question": "ok", "temperature": 3.0}, "temperature must be between 0 and 2"),
    ],
)
async def test_bad_requests_are_invalid_argument(generator, request_fields, message):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await generator.Generate(generator_pb2.GenerateRequest(**request_fields))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.value.details()


async def test_an_unreachable_model_is_unavailable_not_internal():
    # A real connection to a closed loopback port: the failure a caller degrades on.
    settings = GeneratorSettings(api_base=f"http://127.0.0.1:{free_port()}/v1", num_retries=0, timeout_seconds=5)
    async with running(create_server(settings)) as target, grpc.aio.insecure_channel(target) as channel:
        stub = generator_pb2_grpc.GeneratorServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.Generate(generator_pb2.GenerateRequest(question="How often?", passages=PASSAGES))
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "no model could answer" in error.value.details()


async def test_a_fallback_model_answers_when_the_primary_fails():
    settings = GeneratorSettings(
        api_base=f"http://127.0.0.1:{free_port()}/v1",
        num_retries=0,
        timeout_seconds=5,
        fallbacks=["openai/gpt-4o-mini"],
    )
    from services.generator.llm import AnswerWriter

    writer = AnswerWriter(settings)
    # The fallback is a hosted model; LiteLLM's mock stands in for the paid API, and only for it.
    original = writer._call_args

    def args(model, *rest):
        built = original(model, *rest)
        if model == "openai/gpt-4o-mini":
            built["mock_response"] = "From the fallback [1]."
        return built

    writer._call_args = args
    answer = await writer.answer("How often?", [Passage(1, "Key rotation", "Every 45 days.")])
    assert answer.model == "openai/gpt-4o-mini" and answer.text == "From the fallback [1]."
    assert answer.cost_usd > 0  # priced from LiteLLM's packaged model map


def test_the_completion_prompt_ends_where_the_answer_starts():
    prompt = completion_prompt(
        "When was it built?", [Passage(1, "Tower", "Built in 1889."), Passage(2, "Bell", "Cast in 1858.")]
    )
    assert prompt.endswith("Question: When was it built?\nAnswer:")
    assert "[1] Tower\nBuilt in 1889.\n[2] Bell\nCast in 1858." in prompt
    assert "\n\n" in COMPLETION_STOP


VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"enum": ["SUPPORT", "CONTRADICT", "NOT_ENOUGH_INFO"]},
        "evidence": {"type": "array", "items": {"enum": [1, 2]}},
    },
    "required": ["verdict", "evidence"],
    "additionalProperties": False,
}


def _extract_request(**overrides: object) -> generator_pb2.ExtractRequest:
    fields = {
        "instruction": "Decide whether the passages support the claim.",
        "text": "API keys are rotated monthly.",
        "passages": PASSAGES,
        "json_schema": json.dumps(VERDICT_SCHEMA),
        "examples": [generator_pb2.ExtractExample(text="The sky is green.", json='{"verdict": "CONTRADICT"}')],
    }
    return generator_pb2.ExtractRequest(**{**fields, **overrides})


@contextlib.asynccontextmanager
async def _generator_answering(text: str, **settings: object):
    """A generator whose model (LiteLLM's mock) writes `text`."""
    async with running(create_server(GeneratorSettings(mock_response=text, **settings))) as target:
        async with grpc.aio.insecure_channel(target) as channel:
            yield generator_pb2_grpc.GeneratorServiceStub(channel)


@pytest.mark.parametrize(
    ("output", "settings"),
    [
        ('{"verdict": "CONTRADICT", "evidence": [1]}', {}),
        # Models wrap JSON in prose and code fences; the first object is read.
        ('Here it is:\n```json\n{"verdict": "CONTRADICT", "evidence": [1]}\n```', {}),
        # A chat model gets the schema as a structured-output response format.
        ('{"verdict": "CONTRADICT", "evidence": [1]}', {"model": "openai/gpt-4o-mini"}),
    ],
)
async def test_extract_returns_json_that_matches_the_schema(output, settings):
    async with _generator_answering(output, **settings) as generator:
        reply = await generator.Extract(_extract_request())
    assert json.loads(reply.json) == {"verdict": "CONTRADICT", "evidence": [1]}
    assert reply.model == settings.get("model", "text-completion-openai/gemma-3-270m")
    assert reply.constrained is False  # a mocked model is not held by a grammar


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ('{"verdict": "MAYBE", "evidence": []}', "'MAYBE' is not one of"),
        ('{"verdict": "SUPPORT", "evidence": [7]}', "7 is not one of"),
        ("I think it is supported.", "no JSON object"),
    ],
)
async def test_extract_output_off_the_schema_is_unavailable_never_passed_on(output, reason):
    async with _generator_answering(output) as generator:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await generator.Extract(_extract_request())
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "does not match the schema" in error.value.details() and reason in error.value.details()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"json_schema": "{not json"}, "json_schema is not JSON"),
        ({"json_schema": '{"type": "array"}'}, "must describe an object"),
        ({"json_schema": '{"type": "object", "properties": {"a": {"type": "colour"}}}'}, "not a valid JSON Schema"),
        ({"text": " "}, "instruction and text are both required"),
        ({"examples": [generator_pb2.ExtractExample(text="x", json="{}")] * 9}, "at most 8 examples"),
    ],
)
async def test_bad_extract_requests_are_invalid_argument(generator, overrides, message):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await generator.Extract(_extract_request(**overrides))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.value.details()


def test_the_extraction_prompt_shows_examples_then_ends_where_the_json_starts():
    prompt = extraction_prompt(
        "Fill the filter.", "papers from 2019", [], [Example("papers by Smith", '{"authors": ["Jane Smith"]}')]
    )
    assert prompt.startswith('Fill the filter.\n\nInput: papers by Smith\nJSON: {"authors"')
    assert prompt.endswith("Input: papers from 2019\nJSON:") and "Passages:" not in prompt


async def test_describe_prices_the_dearest_model_and_economy_requests_go_to_the_cheaper_one():
    settings = {"model": "openai/gpt-4o", "api_base": "", "economy_model": "openai/gpt-4o-mini"}
    async with _generator_answering("Every 45 days [1].", **settings) as generator:
        described = await generator.Describe(generator_pb2.DescribeRequest())
        usual = await generator.Generate(generator_pb2.GenerateRequest(question="How often?", passages=PASSAGES))
        cheap = await generator.Generate(
            generator_pb2.GenerateRequest(question="How often?", passages=PASSAGES, economy=True)
        )
        streamed = [
            event.final
            async for event in generator.GenerateStream(
                generator_pb2.GenerateRequest(question="How often?", passages=PASSAGES, economy=True)
            )
            if event.HasField("final")
        ]
    # LiteLLM's price map: gpt-4o is the dearer of the two, and reservations are made at its price.
    assert described.input_usd_per_token == pytest.approx(2.5e-06)
    assert described.output_usd_per_token == pytest.approx(1e-05)
    assert described.economy_model == "openai/gpt-4o-mini"
    assert usual.model == "openai/gpt-4o" and cheap.model == "openai/gpt-4o-mini"
    assert streamed[0].model == "openai/gpt-4o-mini"
    # The cheaper model costs less for the same usage.
    assert 0 < cheap.usage.cost_usd < usual.usage.cost_usd


async def test_an_unpriced_local_model_describes_a_price_of_zero(generator):
    described = await generator.Describe(generator_pb2.DescribeRequest())
    assert described.input_usd_per_token == 0 and described.output_usd_per_token == 0
    assert described.economy_model == ""


async def test_each_role_is_answered_by_its_own_model_first():
    settings = {
        "model": "openai/gpt-4o",
        "api_base": "",
        "role_models": {"self_query": "openai/gpt-4o-mini", "answer": "openai/gpt-4.1-mini"},
    }
    async with _generator_answering('{"verdict": "CONTRADICT", "evidence": [1]}', **settings) as generator:
        small = await generator.Extract(_extract_request(role="self_query"))
        usual = await generator.Extract(_extract_request(role="verify"))
        answer = await generator.Generate(generator_pb2.GenerateRequest(question="How often?", passages=PASSAGES))
        described = await generator.Describe(generator_pb2.DescribeRequest())
    assert (small.model, usual.model, answer.model) == ("openai/gpt-4o-mini", "openai/gpt-4o", "openai/gpt-4.1-mini")
    # Budgets reserve at the dearest model any role may call.
    assert described.input_usd_per_token == pytest.approx(2.5e-06)


@pytest.mark.parametrize("model", ["openai/o3-mini", "openai/gpt-5-mini"])
async def test_a_reasoning_model_gets_max_completion_tokens_and_no_temperature(model):
    """LiteLLM refuses temperature for these models (as the providers do): the calls succeed only because none
    is sent, with the answer's length as max_completion_tokens."""
    async with _generator_answering(
        '{"verdict": "CONTRADICT", "evidence": [1]}', model=model, api_base=""
    ) as generator:
        answer = await generator.Generate(
            generator_pb2.GenerateRequest(question="How often?", passages=PASSAGES, max_tokens=50)
        )
        streamed = [
            e async for e in generator.GenerateStream(generator_pb2.GenerateRequest(question="How?", passages=PASSAGES))
        ]
        extracted = await generator.Extract(_extract_request())
    assert answer.model == model and extracted.model == model and streamed[-1].final.model == model
