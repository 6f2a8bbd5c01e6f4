"""Observability through the real suite: one trace per question across all five services, Prometheus metrics on
every service, the trace id in the response."""

import asyncio
import threading
import time

import grpc
import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.runtime import telemetry
from tests.servers import gateway

TRACES = {"key-traces": "traces"}
HEADERS = {"X-API-Key": "key-traces"}
DOCUMENT = (
    "Harl harbour timetable\n\n"
    "The Tern ferry leaves Harl harbour at 07:15 every weekday and at 09:00 on Sundays. "
    "Tickets are sold on board; bicycles travel free."
)
QUESTION = "When does the Tern ferry leave Harl harbour?"


class Recorder(SpanProcessor):
    """Keeps the spans that end while recording (processors cannot be removed from a provider once added)."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []
        self.recording = False
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            with self._lock:
                self.spans.append(span)


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    recorder = Recorder()
    telemetry.add_span_processor(recorder)
    return recorder


@pytest.fixture(scope="module")
async def api(suite, recorder):
    async with gateway(suite.gateway_settings(api_keys=TRACES)) as client:
        files = {"file": ("harl.txt", DOCUMENT.encode(), "text/plain")}
        reply = await client.post("/v1/documents", headers=HEADERS, files=files)
        assert reply.status_code in (200, 201), reply.text
        yield client


def _service(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


async def test_one_question_is_one_trace_through_all_five_services_with_a_span_per_step(api, recorder):
    recorder.spans.clear()
    recorder.recording = True
    try:
        reply = await api.post("/v1/query", headers=HEADERS, json={"question": QUESTION})
    finally:
        recorder.recording = False
    assert reply.status_code == 200, reply.text
    trace_id = reply.headers["X-Trace-Id"]
    assert len(trace_id) == 32
    spans = [s for s in recorder.spans if format(s.context.trace_id, "032x") == trace_id]
    # Every span the request caused is in its trace, none of them a root but the gateway's server span.
    assert {_service(s) for s in spans} == {
        "ragmesh-gateway",
        "ragmesh-embedder",
        "ragmesh-retriever",
        "ragmesh-generator",
        "ragmesh-ingest",
    }
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 1 and _service(roots[0]) == "ragmesh-gateway" and roots[0].kind.name == "SERVER"
    ids = {s.context.span_id for s in spans}
    assert all(s.parent.span_id in ids for s in spans if s.parent is not None)
    names = {s.name for s in spans}
    steps = {"auth", "rate_limit", "validate", "answer_cache", "embed", "retrieve", "expand", "budget", "generate"}
    assert steps <= names, steps - names
    assert {"post_process", "answer"} <= names
    # The gRPC hops: client and server spans of the same call, in the callee's service.
    assert any(s.name.endswith("RetrieverService/Search") and _service(s) == "ragmesh-retriever" for s in spans)
    assert any(s.name.endswith("EmbedderService/Embed") and _service(s) == "ragmesh-embedder" for s in spans)
    # The model call, by LiteLLM's own callback, under the generator's span, with tokens and cost but no text.
    model_call = next(s for s in spans if s.name == "litellm_request")
    assert _service(model_call) == "ragmesh-generator"
    assert model_call.attributes["gen_ai.usage.output_tokens"] > 0
    # The answer's span: tenant and a hash of the question, never the key or (by default) the question itself.
    answer = next(s for s in spans if s.name == "answer")
    assert answer.attributes["tenant"] == "traces"
    assert len(answer.attributes["question.hash"]) == 16
    assert answer.attributes["answer.degraded"] is False
    assert answer.attributes["retrieval.document_ids"]
    every_value = " ".join(str(v) for s in spans for v in s.attributes.values())
    assert "key-traces" not in every_value
    assert QUESTION not in every_value
    cache = next(s for s in spans if s.name == "answer_cache")
    assert cache.attributes["cache.hit"] is False
    # Redis commands have spans of their own in a sampled trace: the answer cache's GET under its step.
    lookup = next(
        s for s in spans if s.attributes.get("db.system") == "redis" and s.parent.span_id == cache.context.span_id
    )
    assert lookup.name == "GET" and _service(lookup) == "ragmesh-gateway"


async def test_a_repeated_question_is_a_cache_hit_on_its_span_and_calls_no_other_service(api, recorder):
    await api.post("/v1/query", headers=HEADERS, json={"question": QUESTION + " "})
    recorder.spans.clear()
    recorder.recording = True
    try:
        reply = await api.post("/v1/query", headers=HEADERS, json={"question": QUESTION + " "})
    finally:
        recorder.recording = False
    assert reply.json()["cached"] is True
    trace_id = reply.headers["X-Trace-Id"]
    spans = [s for s in recorder.spans if format(s.context.trace_id, "032x") == trace_id]
    assert next(s for s in spans if s.name == "answer_cache").attributes["cache.hit"] is True
    assert not {"ragmesh-embedder", "ragmesh-retriever", "ragmesh-generator"} & {_service(s) for s in spans}


async def test_metrics_parse_and_carry_the_red_and_business_metrics(api):
    await api.post("/v1/query", headers=HEADERS, json={"question": QUESTION})
    await api.post("/v1/query", headers=HEADERS, json={"question": "Which colour is the harbour master's boat?"})
    await api.post("/v1/search", headers=HEADERS, json={"query": "ferry"})
    # Every service registers in this process's default registry (each runs its own process, and port, in
    # production): the gateway's /metrics shows them all here.
    # A request is counted once its response is sent, which the client may see first: wait for the last one.
    for _ in range(50):
        text = (await api.get("/metrics", headers=HEADERS)).text
        families = {family.name: family for family in text_string_to_metric_families(text)}
        if any(s.labels.get("route") == "/v1/search" for s in families["assistant_requests"].samples):
            break
        await asyncio.sleep(0.05)
    for name in (
        "assistant_requests",
        "assistant_request_duration_seconds",
        "cache_hits",
        "cache_misses",
        "api_tokens_used",
        "api_cost_dollars",
        "answer_confidence",
        "context_relevance_score",
        "ragmesh_grpc_server_handled",
        "ragmesh_grpc_server_handling_seconds",
        "ragmesh_embedder_batch_texts",
        "ragmesh_ingest_documents",
        "ragmesh_breaker_state",
    ):
        assert name in families, name
    routes = {s.labels["route"] for s in families["assistant_requests"].samples if s.name.endswith("_total")}
    assert {"/v1/query", "/v1/search", "/v1/documents"} <= routes
    # Bounded labels: route templates, never a tenant, key or question.
    labels = {value for family in families.values() for s in family.samples for value in s.labels.values()}
    assert not {"traces", "key-traces", QUESTION} & labels
    methods = {s.labels["method"] for s in families["ragmesh_grpc_server_handled"].samples}
    assert {"/ragmesh.embedder.v1.EmbedderService/Embed", "/ragmesh.retriever.v1.RetrieverService/Search"} <= methods
    assert generate_latest(REGISTRY)


async def test_an_unsampled_request_has_a_trace_id_but_records_nothing_in_any_service(suite, recorder):
    settings = suite.gateway_settings(api_keys=TRACES, trace_sample_ratio=0.0)
    async with gateway(settings) as unsampled:
        recorder.spans.clear()
        recorder.recording = True
        try:
            reply = await unsampled.post("/v1/query", headers=HEADERS, json={"question": "Are bicycles free?"})
        finally:
            recorder.recording = False
    assert reply.status_code == 200, reply.text
    # The id is there for the logs and the user's complaint; no service recorded a span of it, nor started a trace
    # of its own. (A span of an earlier, sampled request may end meanwhile: the module's other gateway writes that
    # request's records after its response, batched. It belongs to that request's trace, not to this one.)
    trace_id = reply.headers["X-Trace-Id"]
    assert len(trace_id) == 32
    ours = [s for s in recorder.spans if format(s.context.trace_id, "032x") == trace_id or s.parent is None]
    assert ours == [], [(s.name, s.resource.attributes["service.name"]) for s in ours]


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver, as an OpenTelemetry collector runs one: keeps what it is sent."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    async def Export(self, request, context):
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


async def test_spans_go_to_the_configured_collector_and_a_collector_that_is_down_blocks_nothing(suite):
    collector = _Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        settings = suite.gateway_settings(api_keys=TRACES, otlp_endpoint=f"http://127.0.0.1:{port}")
        async with gateway(settings) as exported:
            reply = await exported.post("/v1/search", headers=HEADERS, json={"query": "ferry timetable"})
            assert reply.status_code == 200, reply.text
            await asyncio.to_thread(telemetry.provider(settings).force_flush)
        spans = [
            (resource.resource, span)
            for request in collector.requests
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]
        trace_id = reply.headers["X-Trace-Id"]
        ours = [span for _, span in spans if span.trace_id.hex() == trace_id]
        assert {span.name for span in ours} >= {"POST /v1/search", "auth", "retrieve"}
        names = {a.value.string_value for resource, _ in spans for a in resource.attributes if a.key == "service.name"}
        assert names == {"ragmesh-gateway"}
    finally:
        await server.stop(0)
    # Nothing listens there any more: requests are answered as quickly as ever, the spans are dropped.
    down = suite.gateway_settings(api_keys=TRACES, otlp_endpoint=f"http://127.0.0.1:{port}", trace_sample_ratio=1.0)
    async with gateway(down) as orphaned:
        started = time.monotonic()
        for _ in range(5):
            reply = await orphaned.post("/v1/search", headers=HEADERS, json={"query": "ferry timetable"})
            assert reply.status_code == 200
        assert time.monotonic() - started < 5
    # The batches meant for it are dropped within the exporter's timeout (here, rather than at the process's exit).
    await asyncio.to_thread(telemetry.provider(down).shutdown)


def test_with_nowhere_to_send_spans_none_is_recorded_yet_each_request_has_a_trace_id():
    sampler = telemetry._WhileSent(ParentBased(TraceIdRatioBased(1.0)), sent=False)
    tracer = TracerProvider(sampler=sampler).get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        assert not span.is_recording() and span.get_span_context().is_valid
        assert len(telemetry.trace_id()) == 32
    sampler.sent = True  # a processor arrived (a collector, a test's exporter)
    with tracer.start_as_current_span("request") as span:
        assert span.is_recording() and span.get_span_context().trace_flags.sampled


async def test_while_no_span_is_sent_a_request_gets_its_trace_context_without_the_middleware():
    exported = InMemorySpanExporter()
    made = TracerProvider(sampler=telemetry._WhileSent(ParentBased(TraceIdRatioBased(1.0)), sent=False))
    made.add_span_processor(SimpleSpanProcessor(exported))
    app = FastAPI()

    @app.get("/v1/where")
    async def where() -> dict:
        return {
            "trace_id": telemetry.trace_id(),
            "sampled": trace.get_current_span().get_span_context().trace_flags.sampled,
        }

    telemetry.instrument_fastapi(app, made)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway") as client:
        first, second = [(await client.get("/v1/where")).json() for _ in range(2)]
        assert len(first["trace_id"]) == 32 and first["trace_id"] != second["trace_id"] and not first["sampled"]
        # A caller's trace is continued.
        parent = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
        continued = (await client.get("/v1/where", headers=parent)).json()
        assert continued["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
        assert exported.get_finished_spans() == ()
        # The instrumentation's own middleware was stepped around (its stack is as the wrapper expects).
        assert isinstance(app.middleware_stack.app, telemetry._SpansWhenSent)
        # Once spans go somewhere, OpenTelemetry's middleware records each request's server span.
        made.sampler.sent = True
        traced = (await client.get("/v1/where")).json()
    (server,) = [s for s in exported.get_finished_spans() if s.kind is trace.SpanKind.SERVER]
    assert server.name == "GET /v1/where" and format(server.context.trace_id, "032x") == traced["trace_id"]
