"""The consumer's batch path with handlers that use the ORM, as the services' handlers do.

Handlers in a batch run in chunks under savepoints the session does not see (sent straight to
asyncpg, shared/messaging/consumer.py). These tests pin what that must still guarantee: a failed
handler's changes — pending in the session or already flushed — never commit, the others' do,
and the failed event is applied once when it comes again.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import BigInteger, Column, MetaData, Table, Text, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import registry

from shared.db import make_engine
from shared.events.base import Envelope, Event, encode, wrap
from shared.events.catalogue import UnitRegistered
from shared.messaging.consumer import CHUNK, EventConsumer
from shared.messaging.transport import Delivery, Verdict
from tests.harness import create_probe_schema, unit_event


class Effect:
    """An ORM-mapped effect row (mapped per test onto the probe schema's `effects`)."""

    def __init__(self, key: str, event_id: str) -> None:
        self.key = key
        self.event_id = event_id


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], str]]:
    name = f"batch_{uuid.uuid4().hex[:8]}"
    engine = make_engine(database_url, application_name=name)
    await create_probe_schema(engine, name)
    mapper = registry()
    table = Table("effects", MetaData(schema=name), Column("id", BigInteger, primary_key=True),
                  Column("key", Text), Column("event_id", Text))
    mapper.map_imperatively(Effect, table)
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
             flush_first: bool) -> EventConsumer:
    async def handler(session: AsyncSession, envelope: Envelope, event: Event) -> None:
        assert isinstance(event, UnitRegistered)
        session.add(Effect(event.unit_id, envelope.id))
        if flush_first:
            await session.flush()  # the failed handler's row reaches the database first
        if event.unit_id in failing:
            raise RuntimeError(f"{event.unit_id} fails")

    return EventConsumer(name=name, sessions=sessions, handlers={UnitRegistered: handler},
                         tracer=TracerProvider().get_tracer("t"))


async def effects(sessions: async_sessionmaker[AsyncSession], name: str) -> list[str]:
    async with sessions() as session:
        return sorted((await session.execute(text(f'SELECT key FROM "{name}".effects'))).scalars())


@pytest.mark.parametrize("size", [5, 2 * CHUNK + 3], ids=["one-chunk", "three-chunks"])
@pytest.mark.parametrize("flush_first", [False, True], ids=["pending", "flushed"])
async def test_a_failed_orm_handler_leaves_nothing_and_its_chunk_mates_commit(
        world, flush_first: bool, size: int) -> None:  # type: ignore[no-untyped-def]
    sessions, name = world
    # failures in the first chunk (run bare, redone without them), in a middle one and in the
    # last (each under a savepoint)
    keys = [f"k{i:02d}" for i in range(size)]
    failing = {keys[1], keys[-1]} | ({keys[CHUNK + 4]} if size > CHUNK + 4 else set())
    batch = deliveries(keys)
    outcomes = await consumer(sessions, name, failing, flush_first).process_batch(batch)
    verdicts = {key: outcome.verdict for key, outcome in zip(keys, outcomes, strict=True)}
    assert {k for k, v in verdicts.items() if v is Verdict.RETRY} == failing
    assert all(v is Verdict.ACK for k, v in verdicts.items() if k not in failing)
    assert await effects(sessions, name) == sorted(set(keys) - failing)

    # The failed ones come again (attempt 2) and now succeed; the rest, redelivered too, are
    # no-ops through the inbox: every key exactly once.
    again = [Delivery(d.body, d.routing_key, d.message_id, d.headers, 2)
             for key, d in zip(keys, batch, strict=True) if key in failing]
    healed = consumer(sessions, name, set(), flush_first)
    assert [o.verdict for o in await healed.process_batch(again)] == [Verdict.ACK] * len(again)
    assert [o.verdict for o in await healed.process_batch(batch)] == [Verdict.ACK] * len(keys)
    assert await effects(sessions, name) == sorted(keys)
