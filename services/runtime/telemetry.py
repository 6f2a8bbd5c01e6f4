"""Traces: one OpenTelemetry tracer provider per service, W3C trace context over HTTP and gRPC, the maintained
instrumentations (FastAPI, gRPC, Redis, SQLAlchemy, HTTPX) handed that provider, OTLP export when a collector is
configured.

Providers are passed to each instrumentation explicitly rather than set as the process's global, because the tests
(and `ragmesh up --in-process`) run several services in one process and each span must name the service it came
from. With no collector configured (and no test exporter) no span is recorded, since it would only be dropped: trace
ids are still made, so they reach logs and the `X-Trace-Id` header; with tracing off no span is made at all.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import NoOpTracer, Span, Tracer

from services.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

_PROVIDERS: dict[tuple[str, float, str], TracerProvider] = {}
# The tracer each service's own code uses (the last one configured for that service in this process).
_TRACERS: dict[str, Tracer] = {}
# Processors every provider gets, present and future: the tests' in-memory exporter.
_EXTRA: list[SpanProcessor] = []
_NO_TRACER = NoOpTracer()


class _WhileSent(Sampler):
    """`inner`'s decision while the provider has somewhere to send spans; until then none is recorded. Building a
    span costs tens of microseconds and a traced request makes about twenty: with nothing to receive them that was
    about 2 ms of every search. Written here because the SDK's samplers cannot see the provider's processors."""

    def __init__(self, inner: Sampler, sent: bool) -> None:
        self.inner = inner
        self.sent = sent

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        if self.sent:
            return self.inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        parent = trace.get_current_span(parent_context).get_span_context()
        return SamplingResult(Decision.DROP, None, parent.trace_state if parent.is_valid else None)

    def get_description(self) -> str:
        return f"WhileSent{{{self.inner.get_description()}}}"


def provider(settings: ServiceSettings) -> TracerProvider | None:
    """The service's tracer provider, made once per process and configuration; None with tracing off."""
    name = settings.service_name
    if not settings.tracing:
        _TRACERS[name] = _NO_TRACER
        return None
    key = (name, settings.trace_sample_ratio, settings.otlp_endpoint)
    if (made := _PROVIDERS.get(key)) is None:
        # A request is traced in every service it reaches or in none: the gateway decides, the others follow its
        # decision and start no trace of their own.
        root = TraceIdRatioBased(settings.trace_sample_ratio) if name == "gateway" else ALWAYS_OFF
        made = TracerProvider(
            resource=Resource.create({"service.name": f"ragmesh-{name}", "service.namespace": "ragmesh"}),
            sampler=_WhileSent(ParentBased(root), sent=bool(settings.otlp_endpoint or _EXTRA)),
        )
        if settings.otlp_endpoint:
            made.add_span_processor(_otlp(settings.otlp_endpoint))
        for processor in _EXTRA:
            made.add_span_processor(processor)
        _PROVIDERS[key] = made
    _TRACERS[name] = made.get_tracer(f"ragmesh.{name}")
    return made


def _otlp(endpoint: str) -> SpanProcessor:
    # Imported only when a collector is configured; batching keeps export off the request path, and a collector
    # that does not answer costs dropped spans, never a blocked request.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    log.info("exporting traces over OTLP to %s", endpoint)
    # Within 5 s a batch is sent or dropped (a collector that is down then costs the exit at most that).
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"), timeout=5)
    return BatchSpanProcessor(exporter)


def add_span_processor(processor: SpanProcessor) -> None:
    """Send every service's spans to `processor` as well (tests: an in-memory exporter)."""
    _EXTRA.append(processor)
    for made in _PROVIDERS.values():
        made.add_span_processor(processor)
        made.sampler.sent = True


def tracer(service: str) -> Tracer:
    """The tracer of `service`'s own spans (pipeline steps); a no-op one until the service is configured."""
    return _TRACERS.get(service, _NO_TRACER)


@contextmanager
def step(service: str, name: str, **attributes: object) -> Iterator[Span]:
    """A span for one step of a service's work, as a child of the current one; inside a request that is not traced,
    no span at all (the current, unrecorded one is yielded, so attributes set on it go nowhere)."""
    current = trace.get_current_span()
    if current.get_span_context().is_valid and not current.is_recording():
        yield current
        return
    with tracer(service).start_as_current_span(name, attributes=attributes or None) as span:
        yield span


def trace_id() -> str:
    """The current trace's id as 32 hex digits; empty outside a trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def annotate(**attributes: object) -> None:
    """Set attributes on the current span (None values are left out)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({key: value for key, value in attributes.items() if value is not None})


# OpenTelemetry's gRPC interceptors cost about 0.15 ms a call on each side (bench/observability.py), a span or not.
# The two wrappers below run them only for requests that are traced: a call made outside a sampled trace carries no
# context and the callee, seeing none, neither traces it nor runs the interceptor. Written here because the
# instrumentation has no such switch; the tracing itself stays the library's.


class _TracedCallsOnly(grpc.aio.ServerInterceptor):
    """OpenTelemetry's server interceptor, for calls that carry a trace context."""

    def __init__(self, inner: grpc.aio.ServerInterceptor) -> None:
        self._inner = inner

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        if any(key == "traceparent" for key, _ in details.invocation_metadata or ()):
            return await self._inner.intercept_service(continuation, details)
        return await continuation(details)


_CLIENT_KINDS = {
    grpc.aio.UnaryUnaryClientInterceptor: "intercept_unary_unary",
    grpc.aio.UnaryStreamClientInterceptor: "intercept_unary_stream",
    grpc.aio.StreamUnaryClientInterceptor: "intercept_stream_unary",
    grpc.aio.StreamStreamClientInterceptor: "intercept_stream_stream",
}


def _sampled() -> bool:
    """Whether the current request is traced (a call outside any request is not)."""
    return trace.get_current_span().get_span_context().trace_flags.sampled


def _sampled_only(inner: grpc.aio.ClientInterceptor) -> grpc.aio.ClientInterceptor:
    """OpenTelemetry's client interceptor `inner`, for calls made inside a sampled trace."""
    kind, method = next((k, m) for k, m in _CLIENT_KINDS.items() if isinstance(inner, k))
    traced = getattr(inner, method)

    async def intercept(self, continuation, details, request):
        if _sampled():
            return await traced(continuation, details, request)
        return await continuation(details, request)

    return type(f"SampledOnly{kind.__name__}", (kind,), {method: intercept})()


def grpc_server_interceptor(settings: ServiceSettings) -> grpc.aio.ServerInterceptor | None:
    """The gRPC server interceptor that continues the caller's trace; None with tracing off."""
    made = provider(settings)
    if made is None:
        return None
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return _TracedCallsOnly(aio_server_interceptor(tracer_provider=made))


def grpc_client_interceptors(settings: ServiceSettings) -> list[grpc.aio.ClientInterceptor]:
    """The gRPC client interceptors that carry a sampled trace to the callee."""
    made = provider(settings)
    if made is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return [_sampled_only(inner) for inner in aio_client_interceptors(tracer_provider=made)]


def instrument_app(app, settings: ServiceSettings) -> None:
    """Server spans for every FastAPI route (probes and metrics left out)."""
    made = provider(settings)
    if made is not None:
        instrument_fastapi(app, made)


def instrument_fastapi(app, made: TracerProvider) -> None:
    """OpenTelemetry's FastAPI instrumentation with `made`, its middleware run only while spans are sent."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=made, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"]
    )
    build = app.build_middleware_stack

    def build_middleware_stack():
        # The instrumentation's stack: ServerErrorMiddleware -> OpenTelemetryMiddleware -> the app's own stack.
        stack = build()
        if isinstance(getattr(stack, "app", None), OpenTelemetryMiddleware):
            stack.app = _SpansWhenSent(stack.app, made)
        return stack

    app.build_middleware_stack = build_middleware_stack


class _SpansWhenSent:
    """OpenTelemetry's ASGI middleware while the provider sends spans somewhere; until then only the request's
    trace context: the caller's continued, or a new (unsampled) trace, as the SDK makes it. The middleware costs
    about 0.1 ms a request even when it records nothing (the route looked up, the request's attributes, its
    metrics): the same reasoning as the gRPC and Redis wrappers above."""

    def __init__(self, traced, made: TracerProvider) -> None:
        from opentelemetry.instrumentation.asgi import asgi_getter

        self._traced = traced
        self._app = traced.app
        self._excluded = traced.excluded_urls
        self._sampler = made.sampler
        self._tracer = made.get_tracer("ragmesh.requests")
        self._getter = asgi_getter

    async def __call__(self, scope, receive, send) -> None:
        if (
            self._sampler.sent
            or scope["type"] != "http"
            or (self._excluded and self._excluded.url_disabled(scope["path"]))
        ):
            await self._traced(scope, receive, send)
            return
        parent = propagate.extract(scope, getter=self._getter)
        # Not recorded: while nothing is sent the sampler drops every span, after the ids are made.
        span = self._tracer.start_span("request", context=parent, kind=trace.SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self._app(scope, receive, send)
        finally:
            otel_context.detach(token)


def instrument_redis(client, settings: ServiceSettings) -> None:
    """A span per Redis command or pipeline of this (asyncio) client, for those sent inside a sampled trace. The
    instrumentation costs about 23 us a command, a span or not (a cached answer sends three); outside a sampled
    trace the command goes straight to the client, and a pipeline comes from it uninstrumented, as the gRPC calls
    above do."""
    made = provider(settings)
    if made is None:
        return
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    plain = client.execute_command, client.pipeline
    RedisInstrumentor.instrument_client(client, tracer_provider=made)
    traced = client.execute_command, client.pipeline

    async def execute_command(*args, **options):
        return await (traced if _sampled() else plain)[0](*args, **options)

    def pipeline(*args, **options):
        return (traced if _sampled() else plain)[1](*args, **options)

    client.execute_command, client.pipeline = execute_command, pipeline


def instrument_engine(engine, settings: ServiceSettings) -> None:
    """A span per SQL statement on this engine (an AsyncEngine's sync engine)."""
    made = provider(settings)
    if made is not None:
        # The instrumentor's own entry point patches create_engine process-wide and instruments only once per
        # process; its EngineTracer instruments just this engine, with this service's provider.
        from opentelemetry.instrumentation.sqlalchemy import __version__
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.metrics import get_meter

        usage = get_meter("opentelemetry.instrumentation.sqlalchemy", __version__).create_up_down_counter(
            "db.client.connections.usage"
        )
        EngineTracer(made.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__), engine, usage)


def instrument_httpx(client, settings: ServiceSettings) -> None:
    """A span per HTTP request of this client, carrying the trace to the server."""
    made = provider(settings)
    if made is not None:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=made)
