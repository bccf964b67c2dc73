"""The relay's rounds overlap (shared/messaging/relay.py: `OutboxRelay.run`): a round that has
waited for the broker's confirms for `overlap_after` no longer holds back the events committed
meanwhile, one that ends sooner is not overlapped, and a relay stopped mid-round loses nothing
and applies nothing twice — on both transports, against real
PostgreSQL (and real RabbitMQ).

Slow confirms are made by holding a round after its messages went out and before it marks them
sent — a round whose confirms are late, as the broker's are in a slow stretch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from shared.messaging.relay import OutboxRelay
from shared.messaging.transport import OutgoingMessage, Transport
from tests.harness import Probe, start_probe

pytestmark = pytest.mark.parametrize("kind", ["inprocess", "rabbitmq"])

AN_HOUR = 3600.0


class LateConfirms:
    """A transport whose publishes return only when the test lets them: every message is
    published (and delivered) at once, but the round that sent it waits."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.held: list[list[str]] = []  # the message ids of each publish waiting
        self.let_go = asyncio.Event()
        self._another_held = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> list[str | None]:
        results = await self._transport.publish_many(messages)
        self.held.append([message.message_id for message in messages])
        self._another_held.set()
        await self.let_go.wait()
        return results

    async def rounds_held(self, count: int) -> None:
        async with asyncio.timeout(20):
            while len(self.held) < count:
                self._another_held.clear()
                await self._another_held.wait()


@pytest.fixture
async def probe(database_url: str, broker_url: str, kind: str) -> AsyncIterator[Probe]:
    made = await start_probe(database_url, kind, broker_url, run_relay=False)
    yield made
    await made.stop()


def run_relay(probe: Probe, transport: Transport, **options: Any) -> OutboxRelay:
    """A relay that polls once an hour: what it relays, a commit's wake-up made it relay."""
    relay = OutboxRelay(schema=probe.name, engine=probe.relay_engine(), transport=transport,
                        tracer=probe.relay.tracer, poll_seconds=AN_HOUR, **options)
    probe.tasks.append(asyncio.create_task(relay.run()))
    return relay


async def stop(probe: Probe) -> None:
    for task in probe.tasks:
        task.cancel()
    await asyncio.gather(*probe.tasks, return_exceptions=True)
    probe.tasks.clear()


async def test_an_event_committed_while_a_round_waits_for_its_confirms_goes_out_at_once(
        probe: Probe) -> None:
    late = LateConfirms(probe.transport)
    run_relay(probe, late)  # type: ignore[arg-type]
    first = await probe.emit("first")
    await late.rounds_held(1)

    second = await probe.emit("second")
    await late.rounds_held(2)  # a second round claimed and published it meanwhile
    assert late.held == [[first.id], [second.id]]
    assert (await probe.wait_for_effects({"second"}, timeout=20))["second"] == 1
    assert await probe.unsent() == 2  # neither round has marked its row: both still wait

    late.let_go.set()
    assert await probe.wait_for_effects({"first", "second"}, timeout=20) == {
        "first": 1, "second": 1}
    for _ in range(200):
        if await probe.unsent() == 0:
            break
        await asyncio.sleep(0.05)
    assert await probe.unsent() == 0


async def test_a_round_is_overlapped_only_once_it_has_been_in_flight_for_overlap_after(
        probe: Probe) -> None:
    """A round that ends within `overlap_after` is not overlapped: the next waits for it, and so
    gathers more rows (every round costs CPU of its own)."""
    late = LateConfirms(probe.transport)
    run_relay(probe, late, overlap_after=AN_HOUR)  # type: ignore[arg-type]
    await probe.emit("first")
    await late.rounds_held(1)
    await probe.emit("second")
    await asyncio.sleep(0.5)  # time enough for a second round, were it allowed yet
    assert len(late.held) == 1

    late.let_go.set()  # the first round ends: the second starts
    assert await probe.wait_for_effects({"first", "second"}, timeout=20) == {
        "first": 1, "second": 1}
    assert len(late.held) == 2


async def test_rounds_in_flight_are_bounded(probe: Probe) -> None:
    late = LateConfirms(probe.transport)
    relay = run_relay(probe, late, rounds_in_flight=2)  # type: ignore[arg-type]
    await probe.emit("one")
    await late.rounds_held(1)
    await probe.emit("two")
    await late.rounds_held(2)

    third = await probe.emit("three")
    await asyncio.sleep(0.5)  # time enough for a third round, were one allowed
    assert len(late.held) == 2
    assert relay.stats.published == 0

    late.let_go.set()  # a slot frees: the waiting row goes out in the next round
    assert await probe.wait_for_effects({"one", "two", "three"}, timeout=20) == {
        "one": 1, "two": 1, "three": 1}
    assert [third.id] in late.held


async def test_a_relay_stopped_while_its_rounds_wait_for_confirms_loses_and_doubles_nothing(
        probe: Probe) -> None:
    """Its rounds roll back: the rows stay unsent, and the next relay publishes them again.
    The consumer has already applied them once and ignores the second delivery (inbox)."""
    late = LateConfirms(probe.transport)
    run_relay(probe, late)  # type: ignore[arg-type]
    await probe.emit("a")
    await late.rounds_held(1)
    await probe.emit("b")
    await late.rounds_held(2)
    assert await probe.wait_for_effects({"a", "b"}, timeout=20) == {"a": 1, "b": 1}

    await stop(probe)
    assert await probe.unsent() == 2

    relay = run_relay(probe, probe.transport)
    relay.wake()
    for _ in range(400):
        if await probe.unsent() == 0:
            break
        await asyncio.sleep(0.05)
    assert await probe.unsent() == 0
    assert relay.stats.published == 2
    await asyncio.sleep(0.5)  # the second deliveries reach the consumer
    assert await probe.effects() == {"a": 1, "b": 1}
