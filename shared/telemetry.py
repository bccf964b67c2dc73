"""OpenTelemetry tracing and structured logs that carry the trace id.

The `traceparent` of the request that changed state is stored with the outbox row at commit and
carried in the message headers, so a consumer's span continues the trace of the HTTP request.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

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


def messaging_attributes(operation: str, destination: str, routing_key: str,
                         message_id: str) -> dict[str, str]:
    """OpenTelemetry messaging semantic conventions for a publish or process span."""
    return {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": operation,
        "messaging.destination.name": destination,
        "messaging.rabbitmq.destination.routing_key": routing_key,
        "messaging.message.id": message_id,
    }


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def traceparent_of(span: trace.Span) -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def context_from(traceparent: str | None) -> otel_context.Context:
    if not traceparent:
        return otel_context.Context()
    return _propagator.extract({"traceparent": traceparent})


def context_from_headers(headers: Mapping[str, Any]) -> otel_context.Context:
    carrier = {k: str(v) for k, v in headers.items() if k in ("traceparent", "tracestate")}
    return _propagator.extract(carrier)


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
