"""A probe service for backbone tests: its own schema, outbox, relay, inbox and consumer, whose one
effect per event is a row in `effects`. Counting those rows proves "nothing lost, nothing twice".

It runs the very same shared code as the three services, on either transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import driver, make_consumer_engine, make_engine, make_relay_engine, transaction
from shared.events.base import Envelope, Event, encode, wrap
from shared.events.catalogue import UnitRegistered
from shared.messaging.consumer import EventConsumer
from shared.messaging.outbox import add_event, add_events
from shared.messaging.rabbitmq import RabbitTransport
from shared.messaging.relay import OutboxRelay
from shared.messaging.tables import due_from_insert, install_backbone, remove_outbox_notify
from shared.messaging.transport import InProcessTransport, Transport

FailPolicy = Callable[[str, int], bool]  # (key, attempt) -> raise?


def unit_event(key: str) -> UnitRegistered:
    return UnitRegistered(unit_id=key, name=f"Unit {key}", administration="Probe",
                          cost_centre="1000")


def make_transport(kind: str, broker_url: str | None, name: str, **options: Any) -> Transport:
    if kind == "inprocess":
        return InProcessTransport()
    assert broker_url
    return RabbitTransport(broker_url, exchange=f"{name}.events",
                           dead_letter_exchange=f"{name}.dead-letter", connection_name=name,
                           **options)


@dataclass
class Probe:
    name: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    transport: Transport
    relay: OutboxRelay
    consumer: EventConsumer
    tracer_provider: TracerProvider
    fail: FailPolicy | None = None
    # What an injected failure raises (default: a RuntimeError naming the key and attempt)
    fail_with: Callable[[str, int], Exception] | None = None
    attempts: dict[str, int] = field(default_factory=dict)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    relays: list[OutboxRelay] = field(default_factory=list)
    own_engines: list[AsyncEngine] = field(default_factory=list)  # the relays' and consumer's

    async def emit(self, key: str, *, commit: bool = True) -> Envelope:
        """A business transaction: one state change plus its event, committed or rolled back."""
        async with self.sessions() as session, session.begin():
            await session.execute(text(f'INSERT INTO "{self.name}".requests (key) VALUES (:k)'),
                                  {"k": key})
            envelope = await add_event(session, unit_event(key))
            if not commit:
                await session.rollback()
        return envelope

    async def emit_many(self, keys: list[str], per_transaction: int = 100) -> None:
        """Load for benchmarks and flow tests: `per_transaction` events per commit, written as a
        service writes several (`add_events`: one statement, not one per event)."""
        for start in range(0, len(keys), per_transaction):
            async with transaction(self.sessions) as session:
                await add_events(session, [(unit_event(key), None)
                                           for key in keys[start:start + per_transaction]])

    async def effects(self) -> dict[str, int]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                text(f'SELECT key, count(*) FROM "{self.name}".effects GROUP BY key'))
            return {row[0]: row[1] for row in rows}

    async def unsent(self) -> int:
        async with self.engine.connect() as connection:
            return int((await connection.execute(text(
                f'SELECT count(*) FROM "{self.name}".outbox WHERE sent_at IS NULL'))).scalar_one())

    async def pages(self, table: str) -> int:
        """The size of one of the probe's tables, in PostgreSQL pages."""
        async with self.engine.connect() as connection:
            return int((await connection.execute(text(
                f"SELECT pg_relation_size('\"{self.name}\".{table}') "
                "/ current_setting('block_size')::int"))).scalar_one())

    async def wait_for_effects(self, keys: set[str], timeout: float = 30.0) -> dict[str, int]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            effects = await self.effects()
            if keys <= effects.keys() or asyncio.get_running_loop().time() > deadline:
                return effects
            await asyncio.sleep(0.05)

    def start_relays(self, count: int = 1) -> list[OutboxRelay]:
        """Run `count` more relays on this probe's outbox (the first one is `self.relay`)."""
        started = []
        for _ in range(count):
            relay = self.relay if not self.relays else OutboxRelay(
                schema=self.name, engine=self.relay_engine(), transport=self.transport,
                tracer=self.relay.tracer, batch_size=self.relay.batch_size, poll_seconds=0.2,
                max_backoff_seconds=1.0)
            self.relays.append(relay)
            started.append(relay)
            self.tasks.append(asyncio.create_task(relay.run()))
        return started

    def relay_engine(self) -> AsyncEngine:
        """A relay's own connection, as each service's relay has (shared/db.py:
        make_relay_engine); disposed with the probe."""
        engine = make_relay_engine(self.engine.url.render_as_string(hide_password=False),
                                   application_name=f"{self.name}-relay")
        self.own_engines.append(engine)
        return engine

    def raw_message(self, key: str) -> tuple[bytes, str]:
        envelope = wrap(unit_event(key))
        return encode(envelope), envelope.id

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.transport.close()
        await self.engine.dispose()
        for engine in self.own_engines:
            await engine.dispose()


async def create_probe_schema(engine: AsyncEngine, name: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{name}"'))
        await connection.run_sync(install_backbone, name)
        await connection.run_sync(remove_outbox_notify, name)  # as the services' migrations
        await connection.run_sync(due_from_insert, name)
        await connection.execute(text(
            f'CREATE TABLE "{name}".effects (id bigserial primary key, key text not null, '
            f'event_id text not null, applied_at timestamptz not null default clock_timestamp())'))
        await connection.execute(text(f'CREATE TABLE "{name}".requests (key text not null)'))


async def start_probe(
    database_url: str, kind: str, broker_url: str | None = None, *,
    fail: FailPolicy | None = None, fail_with: Callable[[str, int], Exception] | None = None,
    delivery_limit: int = 3, prefetch: int = 64,
    relay_count: int = 1, batch_size: int = 200, run_relay: bool = True,
    transport_options: dict[str, Any] | None = None, name: str | None = None,
    create_schema: bool = True, subscribe: bool = True,
) -> Probe:
    """`subscribe=False`: the caller subscribes (e.g. with a wrapped callback) or another
    process consumes; `run_relay=False`: the caller starts relays later (`start_relays`)."""
    name = name or f"probe_{uuid.uuid4().hex[:8]}"
    engine = make_engine(database_url, pool_size=10, application_name=name)
    if create_schema:
        await create_probe_schema(engine, name)
    sessions = async_sessionmaker(engine, expire_on_commit=False, info={"schema": name})
    transport = make_transport(kind, broker_url, name, **(transport_options or {}))
    provider = TracerProvider()
    tracer = provider.get_tracer("probe")
    probe = Probe(name, engine, sessions, transport, None, None, provider, fail,  # type: ignore[arg-type]
                  fail_with)

    async def handler(session: AsyncSession, envelope: Envelope, event: Event) -> None:
        assert isinstance(event, UnitRegistered)
        # The effect goes through asyncpg in the consumer's transaction, as the services' hot
        # statements do (shared/db.py: driver): the fault scenarios then prove that path too.
        await (await driver(session)).execute(
            f'INSERT INTO "{name}".effects (key, event_id) VALUES ($1, $2)',
            event.unit_id, envelope.id)
        attempt = probe.attempts[event.unit_id] = probe.attempts.get(event.unit_id, 0) + 1
        if probe.fail is not None and probe.fail(event.unit_id, attempt):
            if probe.fail_with is not None:
                raise probe.fail_with(event.unit_id, attempt)
            raise RuntimeError(f"handler failure injected for {event.unit_id} (attempt {attempt})")

    # The consumer's own connections, as each service's consumer has (shared/db.py:
    # make_consumer_engine).
    consumer_engine = make_consumer_engine(database_url, application_name=f"{name}-consumer")
    probe.own_engines.append(consumer_engine)
    consumer_sessions = async_sessionmaker(consumer_engine, expire_on_commit=False,
                                           info={"schema": name})
    probe.consumer = EventConsumer(name=name, sessions=consumer_sessions,
                                   handlers={UnitRegistered: handler},
                                   tracer=tracer, delivery_limit=delivery_limit, prefetch=prefetch)
    probe.relay = OutboxRelay(schema=name, engine=probe.relay_engine(), transport=transport,
                              tracer=tracer, batch_size=batch_size, poll_seconds=0.2,
                              max_backoff_seconds=1.0)
    await transport.start()
    if subscribe:
        await transport.subscribe(probe.consumer.subscription())
    if run_relay:
        probe.start_relays(relay_count)
    return probe
