"""A commit that wrote outbox rows wakes the relays of its own process at once
(shared/messaging/outbox.py), and no service's outbox NOTIFYs any more: a notifying commit holds
a cluster-wide lock through its flush, so every writer's commits queued behind each other's.

The relays below poll once an hour: an event that arrives within the test's timeout was
relayed because its commit woke the relay, not because the relay looked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import driver_transaction, make_engine
from shared.events.catalogue import OrdererAppointed, UnitRegistered
from shared.messaging.outbox import add_event
from shared.messaging.relay import OutboxRelay
from tests.harness import Probe, start_probe, unit_event
from tests.system import RunningSystem

AN_HOUR = 3600.0


@pytest.fixture
async def probe(database_url: str) -> AsyncIterator[Probe]:
    """A probe whose only relay polls once an hour."""
    made = await start_probe(database_url, "inprocess", run_relay=False)
    made.relay = OutboxRelay(schema=made.name, engine=made.relay_engine(), transport=made.transport,
                             tracer=made.relay.tracer, poll_seconds=AN_HOUR)
    made.tasks.append(asyncio.create_task(made.relay.run()))
    await asyncio.sleep(0)  # the relay's task starts: it is known to this process from here on
    yield made
    await made.stop()


async def test_an_event_committed_through_a_session_wakes_the_relay_of_its_process(
        probe: Probe) -> None:
    await asyncio.sleep(0.3)  # the relay's first round found nothing: it sleeps for an hour
    await probe.emit("through-a-session")
    assert await probe.wait_for_effects({"through-a-session"}, timeout=20) == {
        "through-a-session": 1}
    assert await probe.unsent() == 0


async def test_an_event_committed_on_a_driver_transaction_wakes_the_relay_of_its_process(
        probe: Probe) -> None:
    """The path placing an order takes (shared/db.py: DriverTransaction)."""
    await asyncio.sleep(0.3)
    async with driver_transaction(probe.engine, probe.name) as transaction:
        await add_event(transaction, unit_event("on-a-driver-transaction"))
    assert await probe.wait_for_effects({"on-a-driver-transaction"}, timeout=20) == {
        "on-a-driver-transaction": 1}


async def test_a_relay_that_has_stopped_is_no_longer_woken(probe: Probe) -> None:
    for task in probe.tasks:
        task.cancel()
    await asyncio.gather(*probe.tasks, return_exceptions=True)
    probe.tasks.clear()
    # What the relay registered (its bound `wake`) sets whatever `_wake` it has by then.
    probe.relay._wake = asyncio.Event()
    await probe.emit("after-the-relay-stopped")
    assert not probe.relay._wake.is_set()
    assert await probe.unsent() == 1  # there for the next relay's poll


async def test_no_service_outbox_notifies_on_commit(system: RunningSystem) -> None:
    engine = system.apps["orders"].state.runtime.engine
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        outboxes = await raw.fetch(
            "SELECT n.nspname, count(t.oid) FILTER (WHERE NOT t.tgisinternal) AS triggers "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_trigger t ON t.tgrelid = c.oid "
            "WHERE c.relname = 'outbox' AND n.nspname IN ('orders', 'inventory', 'lifecycle') "
            "GROUP BY n.nspname")
        notifiers = await raw.fetchval(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.proname = 'notify_outbox' "
            "AND n.nspname IN ('orders', 'inventory', 'lifecycle')")
    assert {row["nspname"]: row["triggers"] for row in outboxes} == {
        "orders": 0, "inventory": 0, "lifecycle": 0}
    assert notifiers == 0


@contextlib.asynccontextmanager
async def orders_request_pool_held(system: RunningSystem) -> AsyncIterator[AsyncEngine]:
    """Every connection of the pool that serves orders' requests checked out and held, as by a
    burst of requests; yields an engine of the test's own to write and read with."""
    engine = system.apps["orders"].state.runtime.engine
    pool = engine.pool
    capacity = pool.size() + pool._max_overflow  # type: ignore[attr-defined]
    writer = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1,
                         application_name="test-writer")
    try:
        async with contextlib.AsyncExitStack() as held:
            for _ in range(capacity):
                await held.enter_async_context(engine.connect())
            assert pool.checkedout() == capacity
            yield writer
            assert pool.checkedout() == capacity  # still held: nothing was given back meanwhile
    finally:
        await writer.dispose()


async def within_5_seconds(done: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + 5.0
    while not await done():
        assert asyncio.get_running_loop().time() < deadline, f"{what}: not within 5 s"
        await asyncio.sleep(0.05)


async def test_a_service_relays_its_events_while_every_connection_of_its_pool_is_held(
        system: RunningSystem) -> None:
    """The relay has a connection of its own (shared/db.py: make_relay_engine): with the pool
    that serves requests exhausted, as under a burst of requests, an event still
    goes out at once — taking from that pool, the relay waited for it (up to its timeout, 10 s)."""
    async with orders_request_pool_held(system) as writer:
        async with driver_transaction(writer, "orders") as transaction:
            envelope = await add_event(transaction, OrdererAppointed(
                unit_id="POOL-HELD", person_id="p-pool", appointed_by="h-pool"))

        async def sent() -> bool:
            return await _scalar(writer, "SELECT sent_at IS NOT NULL FROM orders.outbox "
                                 "WHERE event_id = :id", id=envelope.id) is True

        await within_5_seconds(sent, "relayed while orders' request pool was held")


async def test_a_service_applies_other_services_events_while_its_request_pool_is_held(
        system: RunningSystem) -> None:
    """The consumer has connections of its own too (shared/db.py: make_consumer_engine): with
    every connection that serves orders' requests held, a unit lifecycle registers still reaches
    orders at once — from that pool, the consumer waited (up to its timeout, 10 s)."""
    async with orders_request_pool_held(system) as writer:
        async with driver_transaction(writer, "lifecycle") as transaction:
            await add_event(transaction, UnitRegistered(
                unit_id="POOL-HELD-UNIT", name="Held", administration="Test",
                cost_centre="9999"))

        async def applied() -> bool:
            return await _scalar(writer, "SELECT count(*) FROM orders.known_units "
                                 "WHERE unit_id = :id", id="POOL-HELD-UNIT") == 1

        await within_5_seconds(applied, "applied while orders' request pool was held")


async def _scalar(engine: AsyncEngine, sql: str, **params: object) -> object:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar_one()
