"""OpenTelemetry tracing and structured logs that carry the trace id.

The `traceparent` of the request that changed state is stored with the outbox row at commit and
carried in the message headers, so a consumer's span continues the trace of the HTTP request.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi.routing import iter_route_contexts
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Match

_propagator = TraceContextTextMapPropagator()


def make_tracer_provider(
    service: str, otlp_endpoint: str | None, exporter: SpanExporter | None = None
) -> TracerProvider:
    """One provider per service, so three services in one process still trace as three."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"kommunmobil-{service}"}))
    if exporter is not None:  # handed in by the caller (tests): export as spans end
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        otlp = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(otlp))
    return provider


def trace_sql_statements(engines: Sequence[AsyncEngine], provider: TracerProvider) -> None:
    """A span per SQL statement on each of a service's engines (`KM_TRACE_SQL`).

    Engine by engine rather than through `SQLAlchemyInstrumentor`: that instrumentor is one per
    process and acts on its first call only, so with the three services of `kommunmobil up` in
    one process, and each with a consumer engine of its own, only the first engine was traced."""
    # Imported here: only a process that asked for SQL spans loads the instrumentation.
    from opentelemetry.instrumentation.sqlalchemy import __version__
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter

    tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
    connections = get_meter("opentelemetry.instrumentation.sqlalchemy").create_up_down_counter(
        "db.client.connections.usage", unit="connections")
    for engine in engines:
        EngineTracer(tracer, engine.sync_engine, connections)


def messaging_attributes(operation: str, destination: str, routing_key: str,
                         message_id: str | None = None, batch_size: int | None = None
                         ) -> dict[str, str | int]:
    """OpenTelemetry messaging semantic conventions for a publish or process span."""
    attributes: dict[str, str | int] = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": operation,
        "messaging.destination.name": destination,
        "messaging.rabbitmq.destination.routing_key": routing_key,
    }
    if message_id is not None:
        attributes["messaging.message.id"] = message_id
    if batch_size is not None:
        attributes["messaging.batch.message_count"] = batch_size
    return attributes


# W3C Trace Context, version 00. Parsed and written here rather than through the propagator's
# carrier API: this runs once or twice for every event (outbox, relay, consumer), and the
# propagator's generic path costs about twice as much (bench/events.py).
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def span_context_from(traceparent: object) -> trace.SpanContext | None:
    """The remote span context a `traceparent` names; None when absent or malformed."""
    if not isinstance(traceparent, str):
        return None
    match = _TRACEPARENT.fullmatch(traceparent)
    if match is None:
        if traceparent[:2] in ("", "00", "ff"):
            return None
        # a later version: its first four fields are read the same way (W3C, §4.3)
        extracted = trace.get_current_span(_propagator.extract({"traceparent": traceparent}))
        return extracted.get_span_context() if extracted.get_span_context().is_valid else None
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if not trace_id or not span_id:
        return None
    return trace.SpanContext(trace_id, span_id, is_remote=True,
                             trace_flags=trace.TraceFlags(int(match[3], 16)))


def traceparent_of(span: trace.Span) -> str | None:
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def current_traceparent() -> str | None:
    return traceparent_of(trace.get_current_span())


def context_from(traceparent: str | None) -> otel_context.Context:
    remote = span_context_from(traceparent)
    if remote is None:
        return otel_context.Context()
    return trace.set_span_in_context(trace.NonRecordingSpan(remote), otel_context.Context())


def context_from_headers(headers: Mapping[str, Any]) -> otel_context.Context:
    if "tracestate" in headers:  # rare here: let the propagator carry it along
        carrier = {k: str(v) for k, v in headers.items() if k in ("traceparent", "tracestate")}
        return _propagator.extract(carrier)
    return context_from(headers.get("traceparent"))


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line with the active trace and span ids."""

    def format(self, record: logging.LogRecord) -> str:
        span_context = trace.get_current_span().get_span_context()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        for key in ("service", "event_id", "routing_key"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiormq", "aio_pika"):
        logging.getLogger(noisy).setLevel("WARNING")


class ServerSpans:
    """ASGI middleware: one SERVER span per HTTP request, continuing the caller's `traceparent`.

    It wraps the whole middleware stack (`wrap_in_server_spans`), outside Starlette's
    ServerErrorMiddleware: the status it records is the one sent, also when an exception handler
    there turns a failure into a 503.

    It stands in for opentelemetry-instrumentation-fastapi, which measured ≈ 0.4 ms of CPU per
    request here (its route lookup walks every route, its attribute sets are large, and it
    wraps `send`/`receive`), a third of the service's whole frame (docs/performance.md). The
    span follows the HTTP semantic conventions: named `METHOD /route/{template}`, with method,
    path, route and status code; a 5xx or an exception marks it as an error.
    """

    def __init__(self, app: Any, tracer: trace.Tracer, excluded_paths: frozenset[str]) -> None:
        self.app = app
        self.tracer = tracer
        self.excluded = excluded_paths
        self._templates: dict[int, str] = {}  # by id(route): routes live as long as the app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self.excluded:
            await self.app(scope, receive, send)
            return
        carrier = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in scope["headers"] if name in _TRACE_HEADERS}
        method = scope["method"]
        status = 500  # unless the app starts a response

        async def send_noting_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self.tracer.start_as_current_span(
            method, context=_propagator.extract(carrier) if carrier else None,
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"],
                        "url.scheme": scope.get("scheme", "http")},
        ) as span:
            try:
                await self.app(scope, receive, send_noting_status)
            finally:
                template = self._template(scope)
                if template:
                    span.update_name(f"{method} {template}")
                    span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(trace.StatusCode.ERROR)

    def _template(self, scope: dict[str, Any]) -> str | None:
        """The matched route's full path template, looked up once per route.

        The router leaves the route in the scope, but a route of an included router knows only
        its own part of the path; FastAPI's effective route contexts have it whole."""
        route = scope.get("route")
        if route is None:
            return None
        template = self._templates.get(id(route))
        if template is None:
            for candidate in iter_route_contexts(getattr(scope.get("app"), "routes", [])):
                if candidate.matches(scope)[0] is Match.FULL:
                    template = self._templates[id(route)] = str(candidate.path)
                    break
            else:  # e.g. a 405: the route, but no full match; its own part, not remembered
                template = str(getattr(route, "path", ""))
        return template


def wrap_in_server_spans(app: Any, tracer: trace.Tracer, excluded_paths: frozenset[str]) -> None:
    """Install ServerSpans around `app`'s whole middleware stack (as the OpenTelemetry FastAPI
    instrumentation did): `add_middleware` would put it inside ServerErrorMiddleware."""
    build = app.build_middleware_stack

    def build_traced() -> ServerSpans:
        return ServerSpans(build(), tracer, excluded_paths)

    app.build_middleware_stack = build_traced


_TRACE_HEADERS = (b"traceparent", b"tracestate")
