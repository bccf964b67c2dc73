"""The backbone's promises, on both transports, against real PostgreSQL (and real RabbitMQ)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import asyncpg
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from shared.messaging.rabbitmq import REASON_HEADER
from shared.messaging.transport import InProcessTransport, PublishFailed
from tests.harness import Probe, start_probe
from tests.system import eventually

pytestmark = pytest.mark.parametrize("kind", ["inprocess", "rabbitmq"])


@pytest.fixture
async def probe_factory(database_url: str, broker_url: str) -> AsyncIterator:  # type: ignore[type-arg]
    probes: list[Probe] = []

    async def make(kind: str, **options: object) -> Probe:
        probe = await start_probe(database_url, kind, broker_url, **options)  # type: ignore[arg-type]
        probes.append(probe)
        return probe

    yield make
    for probe in probes:
        await probe.stop()


async def dead_letters(probe: Probe, broker_url: str, expected: int) -> list[tuple[bytes, str]]:
    """(body, reason) of dead-lettered messages, read from the DLQ itself."""
    if isinstance(probe.transport, InProcessTransport):
        for _ in range(200):
            if len(probe.transport.dead_letters) >= expected:
                break
            await asyncio.sleep(0.05)
        return [(d.body, d.reason) for d in probe.transport.dead_letters]
    found: list[tuple[bytes, str]] = []
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(f"{probe.name}.dlq")
        for _ in range(200):
            message = await queue.get(fail=False, no_ack=True)
            if message is None:
                if len(found) >= expected:
                    break
                await asyncio.sleep(0.1)
                continue
            found.append((message.body, str((message.headers or {}).get(REASON_HEADER))))
    return found


async def test_rolled_back_event_is_never_published_and_committed_one_applies_once(
    kind: str, probe_factory) -> None:  # type: ignore[no-untyped-def]
    probe = await probe_factory(kind)
    await probe.emit("rolled-back", commit=False)
    await probe.emit("committed")
    effects = await probe.wait_for_effects({"committed"})
    await asyncio.sleep(0.5)  # give a wrongly published event time to show up
    effects = await probe.effects()
    assert effects == {"committed": 1}
    assert await probe.unsent() == 0


async def test_same_message_delivered_twice_has_one_effect(kind: str, probe_factory) -> None:  # type: ignore[no-untyped-def]
    probe = await probe_factory(kind)
    body, message_id = probe.raw_message("twice")
    for _ in range(2):
        await probe.transport.publish("lifecycle.unit-registered.v1", body,
                                      message_id=message_id, headers={})
    await probe.emit("marker")  # published after the duplicates; once it lands they have too
    await probe.wait_for_effects({"marker", "twice"})
    await asyncio.sleep(0.3)
    assert await probe.effects() == {"twice": 1, "marker": 1}


async def test_consumer_failing_before_commit_is_redelivered_and_applied_once(
    kind: str, probe_factory) -> None:  # type: ignore[no-untyped-def]
    probe = await probe_factory(kind, fail=lambda key, attempt: attempt == 1)
    await probe.emit("flaky")
    effects = await probe.wait_for_effects({"flaky"})
    assert effects == {"flaky": 1}
    assert probe.attempts["flaky"] == 2  # the first attempt's effect was rolled back


async def test_poison_message_is_dead_lettered_with_reason_and_others_flow(
    kind: str, probe_factory, broker_url: str) -> None:  # type: ignore[no-untyped-def]
    probe = await probe_factory(kind, fail=lambda key, attempt: key == "poison", delivery_limit=3)
    await probe.emit("poison")
    healthy = {f"healthy-{i}" for i in range(20)}
    for key in sorted(healthy):
        await probe.emit(key)
    effects = await probe.wait_for_effects(healthy)
    assert {k: effects.get(k) for k in healthy} == dict.fromkeys(healthy, 1)
    letters = await dead_letters(probe, broker_url, expected=1)
    assert len(letters) == 1
    body, reason = letters[0]
    assert b'"poison"' in body
    assert "failed 3 times" in reason and "handler failure injected" in reason
    # 3 deliveries; a failed batch may add a handler run that is rolled back with the batch
    assert probe.attempts["poison"] >= 3
    assert "poison" not in await probe.effects()


@pytest.mark.parametrize("looks_like_an_outage", [
    lambda key, attempt: TimeoutError(f"statement timed out for {key} (injected)"),
    lambda key, attempt: asyncpg.InterfaceError(f"connection is closed for {key} (injected)"),
    lambda key, attempt: ConnectionResetError(f"connection reset for {key} (injected)"),
], ids=["timeout", "interface-error", "os-error"])
async def test_poison_that_looks_like_an_outage_is_dead_lettered_while_the_database_answers(
    kind: str, probe_factory, broker_url: str, looks_like_an_outage) -> None:  # type: ignore[no-untyped-def]
    """A handler failing with what looks like the infrastructure's error, every time, while
    PostgreSQL answers: held as an outage it would be retried for ever and stop the consumer.
    The consumer asks the database, finds it up, and takes the handler-failure path."""
    probe = await probe_factory(kind, fail=lambda key, attempt: key == "poison",
                                fail_with=looks_like_an_outage, delivery_limit=3)
    await probe.emit("poison")
    healthy = {f"healthy-{i}" for i in range(10)}
    for key in sorted(healthy):
        await probe.emit(key)
    letters = await dead_letters(probe, broker_url, expected=1)
    assert len(letters) == 1 and b'"poison"' in letters[0][0]
    assert "failed 3 times" in letters[0][1] and "(injected)" in letters[0][1]
    effects = await probe.wait_for_effects(healthy)
    assert {k: effects.get(k) for k in healthy} == dict.fromkeys(healthy, 1)
    await probe.emit("after")  # the consumer still consumes
    assert (await probe.wait_for_effects({"after"}))["after"] == 1
    assert "poison" not in await probe.effects()


@pytest.mark.parametrize("first_publish", ["fails", "hangs"])
async def test_poison_whose_dead_letter_publish_fails_is_requeued_and_still_reaches_the_dlq(
    kind: str, probe_factory, broker_url: str, first_publish: str) -> None:  # type: ignore[no-untyped-def]
    """The DLQ publish fails once (the dead-letter exchange unreachable), or hangs (aio-pika
    waiting for a channel being reopened: given up after the publish timeout): the delivery
    goes back to the queue instead of staying unacked on a live channel, where it would sit for
    ever, and is dead-lettered on its next round."""
    if kind == "inprocess":
        pytest.skip("the in-process transport's dead-letter list cannot fail")
    probe = await probe_factory(kind, fail=lambda key, attempt: key == "poison", delivery_limit=2,
                                transport_options={"publish_timeout": 1.0})
    publish_to_dlq = probe.transport._dead_letter
    calls = 0

    async def troubled_once(*args: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 1 and first_publish == "fails":
            raise PublishFailed("dead-letter exchange unreachable (injected)")
        if calls == 1:
            await asyncio.Event().wait()
        await publish_to_dlq(*args)

    probe.transport._dead_letter = troubled_once
    await probe.emit("poison")
    letters = await dead_letters(probe, broker_url, expected=1)
    assert len(letters) == 1 and b'"poison"' in letters[0][0]
    assert calls == 2, "dead-lettered on the delivery after the failed attempt"
    assert "failed 3 times" in letters[0][1]
    await probe.emit("after")
    assert (await probe.wait_for_effects({"after"}))["after"] == 1


async def test_schema_invalid_message_goes_straight_to_dlq_with_validation_error(
    kind: str, probe_factory, broker_url: str) -> None:  # type: ignore[no-untyped-def]
    probe = await probe_factory(kind)
    body, message_id = probe.raw_message("invalid")
    broken = body.replace(b'"cost_centre":"1000"', b'"cost_centre":12')
    await probe.transport.publish("lifecycle.unit-registered.v1", broken,
                                  message_id=message_id, headers={})
    await probe.emit("after-invalid")
    await probe.wait_for_effects({"after-invalid"})
    letters = await dead_letters(probe, broker_url, expected=1)
    assert len(letters) == 1
    assert "invalid event" in letters[0][1] and "cost_centre" in letters[0][1]
    assert await probe.effects() == {"after-invalid": 1}


async def test_an_event_with_a_field_added_in_a_later_release_is_applied(
    kind: str, probe_factory, broker_url: str) -> None:  # type: ignore[no-untyped-def]
    """A producer deployed before its consumer (a rolling deploy) sends a field this consumer
    does not know yet: ignored (docs/events.md), never a dead letter."""
    probe = await probe_factory(kind)
    body, message_id = probe.raw_message("newer")
    newer = body.replace(b'"cost_centre":"1000"',
                         b'"cost_centre":"1000","added_in_a_later_release":true')
    assert newer != body
    await probe.transport.publish("lifecycle.unit-registered.v1", newer,
                                  message_id=message_id, headers={})
    assert (await probe.wait_for_effects({"newer"}))["newer"] == 1
    assert await dead_letters(probe, broker_url, expected=0) == []


async def test_consumer_continues_the_writers_trace_and_one_publish_span_links_the_batch(
    kind: str, probe_factory) -> None:  # type: ignore[no-untyped-def]
    """Tracing through the outbox (OpenTelemetry messaging conventions for batches): the consumer's
    span is a child of the request that wrote the row; the relay's producer span links to it;
    an event written outside any trace continues the producer span's trace instead."""
    probe = await probe_factory(kind, run_relay=False)
    exporter = InMemorySpanExporter()
    probe.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    with probe.tracer_provider.get_tracer("request").start_as_current_span("POST /v1/x") as request:
        traced = await probe.emit("traced")
    untraced = await probe.emit("untraced")
    probe.start_relays(1)
    await probe.wait_for_effects({"traced", "untraced"})

    async def finished() -> Any:  # the publish span ends at the confirm, maybe after the effects
        return exporter.get_finished_spans()

    spans = await eventually(finished, lambda found: len(found) >= 3 and any(
        s.name.endswith(" publish") for s in found))
    published = [s for s in spans if s.name == "lifecycle.unit-registered.v1 publish"]
    processed = {s.attributes["messaging.message.id"]: s for s in spans  # type: ignore[index]
                 if s.name == "lifecycle.unit-registered.v1 process"}
    assert len(published) == 1, "both rows went out in one batch, under one producer span"
    batch = published[0]
    assert batch.attributes["messaging.batch.message_count"] == 2  # type: ignore[index]
    assert [link.context.span_id for link in batch.links] == [request.get_span_context().span_id]
    assert processed[traced.id].parent.span_id == request.get_span_context().span_id  # type: ignore[union-attr]
    assert processed[traced.id].context.trace_id == request.get_span_context().trace_id
    assert processed[untraced.id].parent.span_id == batch.context.span_id  # type: ignore[union-attr]


async def test_outbox_rows_sent_longer_ago_than_the_retention_are_pruned_unsent_ones_never(
    kind: str, probe_factory) -> None:  # type: ignore[no-untyped-def]
    probe = await probe_factory(kind)
    keys = ("sent-long-ago", "sent-just-now", "never-sent")
    for key in keys:
        await probe.emit(key)
    await probe.wait_for_effects(set(keys))
    assert await eventually(probe.unsent, lambda unsent: unsent == 0, timeout=5.0) == 0
    outbox, key_of = f'"{probe.name}".outbox', "envelope->'data'->>'unit_id'"
    async with probe.engine.begin() as connection:
        # Just past the retention (72 h), just inside it, and a row that failed for as long and
        # waits for its next attempt: it must stay whatever its age.
        await connection.execute(text(
            f"UPDATE {outbox} SET sent_at = now() - interval '72 hours 1 minute' "
            f"WHERE {key_of} = 'sent-long-ago'"))
        await connection.execute(text(
            f"UPDATE {outbox} SET sent_at = now() - interval '71 hours 59 minutes' "
            f"WHERE {key_of} = 'sent-just-now'"))
        await connection.execute(text(
            f"UPDATE {outbox} SET sent_at = NULL, created_at = now() - interval '100 hours', "
            f"next_attempt_at = now() + interval '1 hour' WHERE {key_of} = 'never-sent'"))
    assert probe.relay.retention_hours == 72.0
    assert await probe.relay.prune() == 1
    async with probe.engine.connect() as connection:
        left = (await connection.execute(text(
            f"SELECT {key_of} FROM {outbox} ORDER BY 1"))).scalars().all()
    assert left == ["never-sent", "sent-just-now"]
    assert probe.relay.stats.pruned == 1
    assert await probe.relay.prune() == 0
