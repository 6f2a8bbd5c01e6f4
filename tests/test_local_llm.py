"""End to end with the real local LLM: Gemma 3 270M from its package, served by llama.cpp, through LiteLLM."""

import asyncio
import json
import subprocess

import grpc
import jsonschema
import pytest

from ragmesh.generator.v1 import generator_pb2, generator_pb2_grpc
from ragmesh.local_llm import model_file, server_command
from ragmesh.suite import free_port, http_ok, wait_for
from services.gateway.query.verify import EXAMPLES, INSTRUCTION, VERDICTS, verdict_schema
from services.generator.config import GeneratorSettings
from services.generator.server import create_server
from tests.conftest import ACME
from tests.gateway.test_api import _upload
from tests.servers import gateway, running

pytestmark = pytest.mark.llm

KEEPER = (
    "text/markdown",
    b"# Lighthouse keeper log\n\n## Lamp\n\nThe Skerry Point lighthouse lamp is lit every evening at 19:40 "
    b"by the keeper, Agnes Mald.\n\n## Supplies\n\nPetrol for the generator arrives by boat every second Tuesday.\n",
    {"source": "logbook"},
)


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("llama")


@pytest.fixture(scope="module")
def llama_server(llama_dir):
    port = free_port()
    workdir = llama_dir
    command = server_command(workdir, port, threads=2)
    log = (workdir / "server.log").open("wb")
    # llama.cpp logs a lot: to a file, so a full pipe never blocks it.
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        wait_for(lambda: http_ok(f"{url}/models"), process, "llama.cpp server", 120, workdir / "server.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


async def test_gemma_answers_from_the_document_and_the_citation_points_to_it(suite, llama_server):
    settings = GeneratorSettings(api_base=llama_server, max_tokens=64, temperature=0.0)
    async with running(create_server(settings)) as generator:
        async with grpc.aio.insecure_channel(generator) as channel:
            counted = await generator_pb2_grpc.GeneratorServiceStub(channel).CountTokens(
                generator_pb2.CountTokensRequest(texts=["The Skerry Point lighthouse lamp is lit at 19:40."])
            )
        # Gemma's own tokenizer, from the llama.cpp server that runs it.
        assert counted.tokenizer.endswith("(model server)") and 8 < counted.counts[0] < 30
        async with gateway(suite.gateway_settings(generator_target=generator)) as api:
            added = await _upload(api, ACME, "keeper.md", KEEPER)
            document_id = added.json()["document_id"]
            reply = await api.post(
                "/v1/query", headers=ACME, json={"question": "At what time is the Skerry Point lamp lit?"}
            )
            body = reply.json()
            assert reply.status_code == 200 and body["degraded"] is False and body["no_context"] is False
            assert body["model"] == "text-completion-openai/gemma-3-270m"
            assert "19:40" in body["answer"]
            cited = [c for c in body["citations"] if c["cited"]]
            assert cited and cited[0]["document_id"] == document_id and "19:40" in cited[0]["text"]
            assert cited[0]["support"] >= 0.5
            # The same question streamed: tokens arrive before the citations.
            async with api.stream(
                "POST",
                "/v1/query",
                headers=ACME,
                json={"question": "Who lights the Skerry Point lamp?", "stream": True},
            ) as streamed:
                kinds = [
                    line.split(":", 1)[1].strip() async for line in streamed.aiter_lines() if line.startswith("event:")
                ]
            assert kinds[0] == "token" and kinds[-2:] == ["citations", "done"]
            await api.delete(f"/v1/documents/{document_id}", headers=ACME)
    await asyncio.sleep(0)


async def test_gemma_held_to_a_json_schema_gives_a_verdict_and_filters_that_fit(suite, llama_server):
    settings = GeneratorSettings(api_base=llama_server, temperature=0.0)
    async with running(create_server(settings)) as generator:
        async with grpc.aio.insecure_channel(generator) as channel:
            reply = await generator_pb2_grpc.GeneratorServiceStub(channel).Extract(
                generator_pb2.ExtractRequest(
                    instruction=INSTRUCTION,
                    text="Claim: The Skerry Point lamp is lit at 19:40.",
                    passages=[generator_pb2.Passage(index=1, title="Log", text="The lamp is lit at 19:40.")],
                    json_schema=json.dumps(verdict_schema(1)),
                    examples=[generator_pb2.ExtractExample(text=t, json=json.dumps(j)) for t, j in EXAMPLES],
                )
            )
        # llama.cpp's grammar held the model to the schema: whatever it decided, it is a valid answer.
        assert reply.constrained is True and reply.model == "text-completion-openai/gemma-3-270m"
        jsonschema.validate(json.loads(reply.json), verdict_schema(1))
        async with gateway(suite.gateway_settings(generator_target=generator)) as api:
            added = await _upload(api, ACME, "keeper.md", KEEPER)
            checked = await api.post(
                "/v1/verify", headers=ACME, json={"claim": "The Skerry Point lighthouse lamp is lit every evening."}
            )
            body = checked.json()
            assert checked.status_code == 200 and body["degraded"] is False and body["no_context"] is False
            assert body["verdict"] in VERDICTS and body["usage"]["prompt_tokens"] > 0
            assert all(c["document_id"] == added.json()["document_id"] for c in body["citations"] if c["cited"])
            # The LLM extractor: the grammar holds Gemma to sentence numbers that exist, so it never falls back.
            asked = await api.post(
                "/v1/query",
                headers=ACME,
                json={"question": "When is the Skerry Point lamp lit?", "generate": False, "compress_method": "llm"},
            )
            picked = asked.json()
            assert asked.status_code == 200 and picked["context"]["compression"] == "llm", asked.text
            assert 0 < picked["context"]["tokens"] <= picked["context"]["tokens_before_compression"]
            await api.delete(f"/v1/documents/{added.json()['document_id']}", headers=ACME)


async def test_a_stream_whose_model_dies_midway_ends_with_an_error_event(suite, tmp_path):
    """The model server is killed while it writes: the stream says so (an `error` event), then gives what it has,
    degraded, with its citations; it never just stops."""
    port = free_port()
    process = subprocess.Popen(
        server_command(tmp_path, port, threads=1), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{port}/v1"
        wait_for(lambda: http_ok(f"{url}/models"), process, "llama.cpp server", 120)
        settings = GeneratorSettings(api_base=url, max_tokens=400, temperature=0.0, num_retries=0)
        async with running(create_server(settings)) as generator:
            async with gateway(suite.gateway_settings(generator_target=generator)) as api:
                added = await _upload(api, ACME, "keeper.md", KEEPER)
                events: list[tuple[str, str]] = []
                event = ""
                question = {"question": "Describe everything about the Skerry Point lighthouse log.", "stream": True}
                async with api.stream("POST", "/v1/query", headers=ACME, json=question) as streamed:
                    async for line in streamed.aiter_lines():
                        if line.startswith("event:"):
                            event = line.split(":", 1)[1].strip()
                        elif line.startswith("data:"):
                            events.append((event, line[5:].strip()))
                            if event == "token" and process.poll() is None:
                                process.kill()
                await api.delete(f"/v1/documents/{added.json()['document_id']}", headers=ACME)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "token" and kinds[-3:] == ["error", "citations", "done"], kinds
    assert "midway" in json.loads(events[-3][1])["detail"]
    done = json.loads(events[-1][1])
    assert done["degraded"] is True and done["citations"]


async def test_a_stopping_generator_finishes_the_answers_it_is_writing(llama_server):
    """What SIGTERM does to a gRPC service (its host's graceful stop, for the pod's grace): no new calls, and
    the answers being written are finished, not cut."""
    host = create_server(GeneratorSettings(api_base=llama_server, max_tokens=96, temperature=0.0))
    await host.start()
    target = f"127.0.0.1:{host.port}"
    async with grpc.aio.insecure_channel(target) as channel:
        stub = generator_pb2_grpc.GeneratorServiceStub(channel)
        request = generator_pb2.GenerateRequest(
            question="Describe the Skerry Point lighthouse log in detail.",
            passages=[generator_pb2.Passage(index=1, title="Log", text=KEEPER[1].decode())],
        )
        writing = [asyncio.ensure_future(stub.Generate(request, timeout=120)) for _ in range(2)]
        await asyncio.sleep(0.5)
        stopping = asyncio.ensure_future(host.stop(30))
        answers = await asyncio.gather(*writing)
        await stopping
    assert all(answer.text and answer.usage.completion_tokens > 0 for answer in answers)
    async with grpc.aio.insecure_channel(target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await generator_pb2_grpc.GeneratorServiceStub(channel).Describe(generator_pb2.DescribeRequest(), timeout=3)
    assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_the_models_vocabulary_counts_in_process_what_the_model_server_counts(llama_server, llama_dir):
    """CountTokens from the GGUF's vocabulary (no HTTP call a text) gives the model server's own figures."""
    texts = [
        "The Skerry Point lighthouse lamp is lit every evening at 19:40 by the keeper, Agnes Mald.",
        "Ünïcode — naïve café, 東京, and <b>markup</b> <start_of_turn>",
        "x",
        "",
    ]
    counts = {}
    for name, gguf in (("server", None), ("vocabulary", model_file(llama_dir))):
        host = create_server(GeneratorSettings(api_base=llama_server, tokenizer_gguf=gguf))
        await host.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
                stub = generator_pb2_grpc.GeneratorServiceStub(channel)
                counts[name] = await stub.CountTokens(generator_pb2.CountTokensRequest(texts=texts), timeout=30)
        finally:
            await host.stop(1)
    assert list(counts["vocabulary"].counts) == list(counts["server"].counts)
    assert counts["server"].counts[0] > 15
    assert "in process" in counts["vocabulary"].tokenizer and "model server" in counts["server"].tokenizer


def test_a_missing_vocabulary_file_stops_the_generator_from_starting(tmp_path):
    from services.generator.tokens import TokenCounter

    with pytest.raises(FileNotFoundError, match="tokenizer_gguf"):
        TokenCounter(GeneratorSettings(tokenizer_gguf=tmp_path / "absent.gguf")).warm_up()
