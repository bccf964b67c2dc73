"""The consumer's batch path with handlers that use the ORM, as the services' handlers do.

The first chunk of a batch runs without a savepoint (a failure there redoes the transaction
without it); later chunks run under savepoints the session does not see (sent straight to
asyncpg, shared/messaging/consumer.py). These tests pin what that must still guarantee: a failed
handler's changes — pending in the session or already flushed — never commit, the others' do,
an object the session loaded before a rollback is not trusted after it, and the failed event is
applied once when it comes again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import registry

from shared.db import make_engine
from shared.events.base import Envelope, Event, encode, wrap
from shared.events.catalogue import UnitRegistered
from shared.messaging.consumer import CHUNK, EventConsumer
from shared.messaging.transport import Delivery, Verdict
from tests.harness import create_probe_schema, unit_event

TAKEN_ID = 10**9  # an effect id the sequence will not reach in a test
FALLBACK = "applying one by one"  # what the consumer logs when a batch cannot be applied as one


class Effect:
    """An ORM-mapped effect row (mapped per test onto the probe schema's `effects`)."""

    def __init__(self, key: str, event_id: str, id: int | None = None) -> None:
        self.key = key
        self.event_id = event_id
        self.id = id


class Counter:
    """One row every handler increments through the ORM: a lost or doubled update shows."""

    id: int
    applied: int


World = tuple[async_sessionmaker[AsyncSession], str]


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    name = f"batch_{uuid.uuid4().hex[:8]}"
    engine = make_engine(database_url, application_name=name)
    await create_probe_schema(engine, name)
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            f'CREATE TABLE "{name}".counters (id int primary key, applied int not null)')
        await connection.exec_driver_sql(f'INSERT INTO "{name}".counters VALUES (1, 0)')
    mapper, metadata = registry(), MetaData(schema=name)
    mapper.map_imperatively(Effect, Table(
        "effects", metadata, Column("id", BigInteger, primary_key=True), Column("key", Text),
        Column("event_id", Text)))
    mapper.map_imperatively(Counter, Table(
        "counters", metadata, Column("id", Integer, primary_key=True),
        Column("applied", Integer)))
    yield async_sessionmaker(engine, expire_on_commit=False, autoflush=False,
                             info={"schema": name}), name
    mapper.dispose()
    async with engine.begin() as connection:
        await connection.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    await engine.dispose()


def deliveries(keys: list[str], attempt: int = 1) -> list[Delivery]:
    out = []
    for key in keys:
        envelope = wrap(unit_event(key))
        out.append(Delivery(encode(envelope), envelope.routing_key, envelope.id, {}, attempt))
    return out


def consumer(sessions: async_sessionmaker[AsyncSession], name: str, failing: set[str],
             flush_first: bool, clashing: frozenset[str] = frozenset()) -> EventConsumer:
    async def handler(session: AsyncSession, envelope: Envelope, event: Event) -> None:
        assert isinstance(event, UnitRegistered)
        counter = await session.get(Counter, 1)
        assert counter is not None
        counter.applied += 1
        # `clashing`: a row whose primary key is taken, so the handler's own flush fails
        session.add(Effect(event.unit_id, envelope.id, id=TAKEN_ID if event.unit_id in clashing
                           else None))
        if flush_first or event.unit_id in clashing:
            await session.flush()  # the handler's changes reach the database before it fails
        if event.unit_id in failing:
            raise RuntimeError(f"{event.unit_id} fails")

    return EventConsumer(name=name, sessions=sessions, handlers={UnitRegistered: handler},
                         tracer=TracerProvider().get_tracer("t"))


async def state(sessions: async_sessionmaker[AsyncSession], name: str) -> tuple[list[str], int]:
    """The effects' keys and the counter: equal in number when every effect counted once."""
    async with sessions() as session:
        keys = (await session.execute(text(f'SELECT key FROM "{name}".effects'))).scalars()
        applied = (await session.execute(text(
            f'SELECT applied FROM "{name}".counters WHERE id = 1'))).scalar_one()
    return sorted(keys), int(applied)


@pytest.mark.parametrize("size", [5, 2 * CHUNK + 3], ids=["one-chunk", "three-chunks"])
@pytest.mark.parametrize("flush_first", [False, True], ids=["pending", "flushed"])
async def test_a_failed_orm_handler_leaves_nothing_and_its_chunk_mates_commit(
        world: World, flush_first: bool, size: int, caplog: pytest.LogCaptureFixture) -> None:
    sessions, name = world
    caplog.set_level(logging.INFO, logger="shared.messaging.consumer")
    # failures in the first chunk (run bare, redone without them), in a middle one and in the
    # last (each under a savepoint)
    keys = [f"k{i:02d}" for i in range(size)]
    failing = {keys[1], keys[-1]} | ({keys[CHUNK + 4]} if size > CHUNK + 4 else set())
    batch = deliveries(keys)
    outcomes = await consumer(sessions, name, failing, flush_first).process_batch(batch)
    verdicts = {key: outcome.verdict for key, outcome in zip(keys, outcomes, strict=True)}
    assert {k for k, v in verdicts.items() if v is Verdict.RETRY} == failing
    assert all(v is Verdict.ACK for k, v in verdicts.items() if k not in failing)
    good = sorted(set(keys) - failing)
    assert await state(sessions, name) == (good, len(good))
    assert FALLBACK not in caplog.text, "applied as one batch, not one by one"

    # The failed ones come again (attempt 2) and now succeed; the rest, redelivered too, are
    # no-ops through the inbox: every key exactly once.
    again = [Delivery(d.body, d.routing_key, d.message_id, d.headers, 2)
             for key, d in zip(keys, batch, strict=True) if key in failing]
    healed = consumer(sessions, name, set(), flush_first)
    assert [o.verdict for o in await healed.process_batch(again)] == [Verdict.ACK] * len(again)
    assert [o.verdict for o in await healed.process_batch(batch)] == [Verdict.ACK] * len(keys)
    assert await state(sessions, name) == (sorted(keys), len(keys))


async def test_a_handler_whose_own_flush_fails_in_a_later_chunk_sends_the_batch_one_by_one(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """SQLAlchemy rolls the whole transaction back when a flush fails — it knows nothing of the
    chunk's savepoint — so the batch cannot go on; applied one by one, only that one fails."""
    sessions, name = world
    caplog.set_level(logging.INFO, logger="shared.messaging.consumer")
    async with sessions.begin() as session:  # the primary key the clashing handler reuses
        session.add(Effect("seed", "seed", id=TAKEN_ID))
    keys = [f"k{i:02d}" for i in range(CHUNK + 4)]
    clash = keys[CHUNK + 1]
    outcomes = await consumer(sessions, name, set(), False, frozenset({clash})).process_batch(
        deliveries(keys))
    assert [o.verdict for o in outcomes] == [
        Verdict.RETRY if key == clash else Verdict.ACK for key in keys]
    good = sorted({*keys, "seed"} - {clash})
    assert await state(sessions, name) == (good, len(keys) - 1)
    assert FALLBACK in caplog.text
