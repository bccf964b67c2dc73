"""`KM_TRACE_SQL`: a span per SQL statement on every engine of every service in the process —
the requests' and the consumer's (shared/telemetry.py: trace_sql_statements)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from shared.auth import TokenVerifier
from shared.cli import spec_of
from shared.events.base import encode, wrap
from shared.events.catalogue import UnitRegistered
from shared.messaging.transport import InProcessTransport
from shared.runtime import create_app
from shared.settings import CommonSettings, service_settings
from shared.telemetry import make_tracer_provider


def traced_app(service: str, url: str, transport: InProcessTransport,
               key: rsa.RSAPrivateKey) -> tuple[FastAPI, InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    common = CommonSettings(database_url=url, broker_url=None, environment="test",
                            trace_sql=True)
    app = create_app(spec_of(service), common=common,
                     settings=service_settings(service).model_copy(update={"db_pool_size": 2}),
                     database_url=url, transport=transport,
                     token_verifier=TokenVerifier(common, public_key=key.public_key()),
                     tracer_provider=make_tracer_provider(service, None, exporter=spans))
    return app, spans


async def test_every_service_in_the_process_traces_its_requests_and_its_consumers_sql(
        empty_database_url: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    transport = InProcessTransport()
    await transport.start()
    orders, orders_spans = traced_app("orders", empty_database_url, transport, key)
    lifecycle, lifecycle_spans = traced_app("lifecycle", empty_database_url, transport, key)
    async with orders.router.lifespan_context(orders), \
            lifecycle.router.lifespan_context(lifecycle):
        # The second service's requests: SQLAlchemy's instrumentor traced only the first engine
        # of the process.
        async with lifecycle.state.sessions() as session:
            await session.execute(text("SELECT 1 AS traced_request_statement"))
        assert any("traced_request_statement" in str(span.attributes.get("db.statement", ""))
                   for span in lifecycle_spans.get_finished_spans()
                   if span.attributes and span.attributes.get("db.system"))
        # A consumer's statements, in the trace of its `process` span.
        envelope = wrap(UnitRegistered(unit_id="U-TRACED", name="Traced", administration="A",
                                       cost_centre="1000"))
        await transport.publish(envelope.routing_key, encode(envelope),
                                message_id=envelope.id, headers={})

        # The in-process transport confirms a publish once its consumers have applied it.
        finished = orders_spans.get_finished_spans()
        traces = {s.context.trace_id for s in finished
                  if s.name.endswith(" process") and s.context is not None}
        statements = [str((s.attributes or {}).get("db.statement", "")) for s in finished
                      if s.context is not None and s.context.trace_id in traces
                      and (s.attributes or {}).get("db.system")]
        assert any("known_units" in statement for statement in statements), statements
