"""The consumer pipeline: validate, dedupe through the inbox, apply, commit — then ack.

The event id is inserted into the inbox in the handler's own transaction, so a redelivery of an
already applied event is a no-op. Infrastructure trouble (PostgreSQL unreachable) is retried here,
holding the message unacked, because it says nothing about the message — as long as the database
does not answer; a failing handler is retried through the broker up to the delivery limit and
then dead-lettered with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import database_answers, driver, is_transient, transaction
from shared.events.base import Envelope, Event, UnknownEventType, decode
from shared.events.catalogue import REGISTRY
from shared.messaging.tables import tables_of
from shared.messaging.transport import ACKED, Delivery, Outcome, Subscription, Verdict
from shared.telemetry import context_from_headers, messaging_attributes

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Envelope, Event], Awaitable[None]]

# The inbox statements run for every delivery: straight to asyncpg (shared/db.py: driver).
def _inbox_insert(schema: str) -> str:
    return (f'INSERT INTO "{schema}".inbox (consumer, event_id, routing_key) '
            "SELECT $1, e.id, e.key FROM unnest($2::text[], $3::text[]) AS e(id, key) "
            "ON CONFLICT DO NOTHING RETURNING event_id")


async def record_in_inbox(session: AsyncSession, consumer: str, envelope: Envelope) -> bool:
    """Insert the event id; False when this consumer already applied the event."""
    return bool(await record_many_in_inbox(session, consumer, [envelope]))


async def record_many_in_inbox(
    session: AsyncSession, consumer: str, envelopes: Sequence[Envelope]
) -> set[str]:
    """Insert many event ids at once; returns the ids this consumer had not applied yet.

    Sorted, so that two replicas inserting overlapping batches lock rows in the same order and
    cannot deadlock each other.
    """
    unique = sorted({e.id: e for e in envelopes}.values(), key=lambda e: e.id)
    rows = await (await driver(session)).fetch(
        _inbox_insert(tables_of(session).schema), consumer, [e.id for e in unique],
        [e.routing_key for e in unique])
    return {row[0] for row in rows}


async def forget_in_inbox(session: AsyncSession, consumer: str, event_ids: list[str]) -> None:
    await (await driver(session)).execute(
        f'DELETE FROM "{tables_of(session).schema}".inbox '
        "WHERE consumer = $1 AND event_id = ANY($2::text[])", consumer, event_ids)


# Pages of the inbox per DELETE when pruning it (≈ 8 MB), each batch its own short transaction:
# a long one would hold back VACUUM and keep the outbox's dead index entries live for the relay's
# claim (shared/messaging/relay.py: `_claim`), and the first prune of a database with years of
# rows would otherwise be one transaction over all of them.
PRUNE_PAGES = 1_000


async def prune_inbox(sessions: async_sessionmaker[AsyncSession], consumer: str,
                      retention_days: float, pages_per_batch: int = PRUNE_PAGES) -> int:
    """Delete `consumer`'s inbox rows applied longer than `retention_days` ago; returns how many.

    An inbox row is what makes a second delivery of its event a no-op. A second delivery comes
    within seconds or hours of the first — a relay that died between the broker's confirm and
    its mark publishes again once restarted; the broker redelivers what was unacked when a
    channel closed, and a consumer holds a delivery at most `consumer_timeout` (6 hours,
    deploy/rabbitmq/rabbitmq.conf) — or by hand: a replay from the event log, whose oldest
    event is younger than the retention (shared/settings.py: `check_inbox_retention`), or a
    dead letter re-published (deploy/README.md). Kept for ever, the inbox grew by every event.

    The table is walked once, in ranges of its pages (a TID range scan each): rows are not
    ordered by age on disk once VACUUM lets new rows fill old pages, and an index on
    `processed_at` would be written for every event applied, on the backbone's hot path."""
    async with transaction(sessions) as session:
        schema = tables_of(session).schema
        pages = int(await (await driver(session)).fetchval(
            "SELECT pg_relation_size($1::regclass) / current_setting('block_size')::int",
            f'"{schema}".inbox'))
    pruned = 0
    for first in range(0, pages, pages_per_batch):
        async with transaction(sessions) as session:
            status = await (await driver(session)).execute(
                f'DELETE FROM "{schema}".inbox WHERE ctid >= $1::tid AND ctid < $2::tid '
                "AND consumer = $3 AND processed_at < now() - make_interval(secs => $4)",
                (first, 0), (first + pages_per_batch, 0), consumer, retention_days * 86_400.0)
        pruned += int(status.split()[-1])  # "DELETE <count>"
    return pruned


@dataclass(frozen=True)
class _Parsed:
    index: int
    delivery: Delivery
    envelope: Envelope
    event: Event
    handler: Handler


class _HandlerFailed(Exception):
    """A handler raised inside a batch: names the delivery to set aside."""

    def __init__(self, item: _Parsed, cause: Exception) -> None:
        super().__init__(f"handler failed for {item.envelope.id}: {cause!r}")
        self.item = item
        self.cause = cause


# Handlers per savepoint inside a batch: a failure re-runs at most this many.
CHUNK = 16


@dataclass
class EventConsumer:
    """One service's consumer: a queue, the events it handles, and the pipeline around them."""

    name: str
    sessions: async_sessionmaker[AsyncSession]
    handlers: Mapping[type[Event], Handler]
    tracer: Tracer
    delivery_limit: int = 5
    prefetch: int = 64
    infrastructure_backoff: float = 0.5
    probe_timeout: float = 5.0

    @property
    def queue(self) -> str:
        return f"{self.name}.inbox"

    def subscription(self) -> Subscription:
        return Subscription(
            queue=self.queue,
            routing_keys=sorted(cls.routing_key() for cls in self.handlers),
            callback=self.process,
            batch_callback=self.process_batch,
            prefetch=self.prefetch,
            delivery_limit=self.delivery_limit,
        )

    async def process(self, delivery: Delivery) -> Outcome:
        parsed = self._parse(delivery)
        if isinstance(parsed, Outcome):
            return parsed
        envelope, event, handler = parsed
        with self._span(delivery, envelope):
            return await self._apply(delivery, envelope, event, handler)

    async def process_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Apply many deliveries in one transaction (one inbox insert, one commit).

        Handlers run in chunks (see `_apply_together`): a failing handler rolls back only its own
        chunk (or, in the first, the transaction, redone without it) and is retried through the
        broker or dead-lettered, while the rest commits.
        A failure that cannot be pinned on one handler (e.g. at commit) falls back to one
        transaction per delivery.

        A redelivery (it failed before, or its consumer died) is applied on its own, in its own
        transaction, beside the batch rather than in it: a poison message then breaks a chunk of
        the batch once, not on every attempt (fault scenario 8). RabbitTransport goes further and
        hands redeliveries to a worker of their own, so that they do not hold a batch up either.
        """
        outcomes: list[Outcome] = [ACKED] * len(deliveries)
        batch: list[_Parsed] = []
        for index, delivery in enumerate(deliveries):
            parsed = self._parse(delivery)
            if isinstance(parsed, Outcome):
                outcomes[index] = parsed
            else:
                batch.append(_Parsed(index, delivery, *parsed))
        alone = [item for item in batch if item.delivery.attempt > 1]
        batch = [item for item in batch if item.delivery.attempt == 1]
        await asyncio.gather(self._apply_batch(batch, outcomes),
                             self._apply_one_by_one(alone, outcomes))
        return outcomes

    async def _apply_batch(self, batch: list[_Parsed], outcomes: list[Outcome]) -> None:
        if len(batch) > 1:
            try:
                for failure in await self._apply_together(batch):
                    # Its handler failed in the batch: that was this delivery's attempt.
                    outcomes[failure.item.index] = self._failed(
                        failure.item.delivery, failure.item.envelope, failure.cause)
                return
            except Exception as exc:
                log.info("%s: batch of %d failed (%r); applying one by one",
                         self.name, len(batch), exc)
        await self._apply_one_by_one(batch, outcomes)

    async def _apply_one_by_one(self, items: list[_Parsed], outcomes: list[Outcome]) -> None:
        for item in items:
            with self._span(item.delivery, item.envelope):
                outcomes[item.index] = await self._apply(
                    item.delivery, item.envelope, item.event, item.handler)

    def _parse(self, delivery: Delivery) -> Outcome | tuple[Envelope, Event, Handler]:
        try:
            envelope, event = decode(delivery.body, REGISTRY)
        except (ValidationError, UnknownEventType, ValueError) as exc:
            return Outcome(Verdict.DEAD_LETTER, f"invalid event: {exc}")
        handler = self.handlers.get(type(event))
        if handler is None:
            # A valid event this service does not handle (a broad or stale binding): nothing to
            # apply, and nothing wrong with the message, so it is acknowledged, not dead-lettered.
            log.info("%s ignores %s: no handler", self.name, envelope.type)
            return ACKED
        return envelope, event, handler

    def _span(self, delivery: Delivery, envelope: Envelope) -> Any:
        return self.tracer.start_as_current_span(
            f"{envelope.routing_key} process",
            context=context_from_headers(delivery.headers),
            kind=SpanKind.CONSUMER,
            attributes=messaging_attributes("process", self.queue, envelope.routing_key,
                                            envelope.id),
            record_exception=False,  # see _record_failure
        )

    async def _apply_together(self, batch: Sequence[_Parsed]) -> list[_HandlerFailed]:
        """One transaction for the batch; returns the deliveries whose handler failed.

        Handlers run in chunks. The first chunk runs bare: if one of its handlers fails, the
        whole transaction (the inbox rows and that chunk) is rolled back and run again without
        it — the same work a savepoint would redo, and most batches (all at low rates) are one
        chunk, so the healthy path pays no savepoint at all. That redo runs every chunk under a
        savepoint, so a batch is redone at most once however many of its handlers fail. Under a
        savepoint a failing handler rolls back only its chunk, is set aside (its inbox row
        removed again, so a redelivery applies it), and the rest of the chunk runs again.
        """
        backoff = self.infrastructure_backoff
        failed: list[_HandlerFailed] = []
        while True:
            try:
                async with transaction(self.sessions) as session:
                    fresh = await record_many_in_inbox(
                        session, self.name, [item.envelope for item in batch])
                    todo = []
                    for item in batch:
                        if item.envelope.id in fresh:
                            fresh.discard(item.envelope.id)  # a duplicate within the batch
                            todo.append(item)
                    later = await self._run_in_chunks(session, todo, bare_first=not failed)
                    if later:
                        await forget_in_inbox(session, self.name,
                                              [f.item.envelope.id for f in later])
                return failed + later
            except _HandlerFailed as failure:  # in the first chunk: rolled back, run again
                failed.append(failure)
                batch = [item for item in batch if item is not failure.item]
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_transient(exc) or await self._database_answers():
                    raise  # one by one: each delivery's own attempt decides
                log.warning("database unavailable, holding %d deliveries: %r", len(batch), exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _run_in_chunks(self, session: AsyncSession, items: list[_Parsed], *,
                             bare_first: bool) -> list[_HandlerFailed]:
        """The first chunk bare if `bare_first` (see `_apply_together`: its failure propagates),
        every other one under a savepoint sent straight to the driver: through SQLAlchemy
        (`begin_nested`) a savepoint and its release cost ≈ 3 % of the backbone's CPU per event
        (bench/events.py). The session does not see these savepoints, so it is kept in step by
        hand: a chunk's ORM changes are flushed before its savepoint is released, and after a
        rollback to it the session forgets every object (a failed handler's pending or flushed
        changes must not be flushed again at commit). The last chunk's savepoint is left to the
        commit, which releases it: one round trip less per batch."""
        first = CHUNK if bare_first else 0
        for item in items[:first]:
            await self._run_handler(session, item)
        if len(items) <= first:
            return []
        await self._flush_orm(session)  # before any savepoint whose rollback forgets objects
        db = await driver(session)
        failed: list[_HandlerFailed] = []
        for start in range(first, len(items), CHUNK):
            chunk = items[start:start + CHUNK]
            last = start + CHUNK >= len(items)
            while chunk:
                await db.execute("SAVEPOINT km_chunk")
                try:
                    for item in chunk:
                        await self._run_handler(session, item)
                    await self._flush_orm(session)
                except _HandlerFailed as failure:
                    # A handler whose flush failed made SQLAlchemy roll the whole transaction
                    # back; this statement then fails and the batch goes one by one.
                    await db.execute("ROLLBACK TO SAVEPOINT km_chunk; RELEASE SAVEPOINT km_chunk")
                    session.expunge_all()
                    failed.append(failure)
                    chunk = [item for item in chunk if item is not failure.item]
                    continue
                if not last:
                    await db.execute("RELEASE SAVEPOINT km_chunk")
                chunk = []
        return failed

    @staticmethod
    async def _flush_orm(session: AsyncSession) -> None:
        if session.new or session.dirty or session.deleted:
            await session.flush()

    async def _run_handler(self, session: AsyncSession, item: _Parsed) -> None:
        with self._span(item.delivery, item.envelope):
            try:
                await item.handler(session, item.envelope, item.event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_transient(exc):
                    raise
                self._record_failure(item.delivery, exc)
                raise _HandlerFailed(item, exc) from exc

    async def _apply(
        self, delivery: Delivery, envelope: Envelope, event: Event, handler: Handler
    ) -> Outcome:
        backoff = self.infrastructure_backoff
        while True:
            try:
                async with transaction(self.sessions) as session:
                    if await record_in_inbox(session, self.name, envelope):
                        await handler(session, envelope, event)
                return ACKED
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_transient(exc) and not await self._database_answers():
                    log.warning("database unavailable, holding %s: %r", envelope.id, exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                self._record_failure(delivery, exc)  # on this delivery's process span
                return self._failed(delivery, envelope, exc)

    async def _database_answers(self) -> bool:
        """Whether PostgreSQL answers right now. A failure that looks like an outage (a timeout,
        a connection error) while it does is the message's or a bug's: held as an outage, the
        message would be retried here for ever, never reaching the delivery limit, and one
        poison message would stop the consumer. So it takes the handler-failure path instead:
        retried through the broker, then dead-lettered with its reason."""
        return await database_answers(self.sessions.kw["bind"], self.probe_timeout)

    def _record_failure(self, delivery: Delivery, exc: Exception) -> None:
        """On the current (process) span: the exception with its stack trace on the last attempt,
        the one dead-lettered; before that its type and message only. Formatting a stack trace
        costs ≈ 0.4 ms, and a poison message fails on every attempt (fault scenario 8)."""
        span = trace.get_current_span()
        span.set_status(trace.StatusCode.ERROR, repr(exc)[:200])
        if delivery.attempt >= self.delivery_limit:
            span.record_exception(exc)
        else:
            span.add_event("exception", {"exception.type": type(exc).__qualname__,
                                         "exception.message": str(exc)[:1000]})

    def _failed(self, delivery: Delivery, envelope: Envelope, exc: Exception) -> Outcome:
        """A handler failed: retry through the broker, or dead-letter at the delivery limit."""
        if delivery.attempt >= self.delivery_limit:
            return Outcome(
                Verdict.DEAD_LETTER,
                f"failed {delivery.attempt} times; last error: {exc!r}"[:1000],
            )
        # No sleep here: it would stall a batch worker; the broker's redelivery is the pause,
        # and the delivery limit bounds the attempts.
        log.warning("handler failed on attempt %d for %s: %r", delivery.attempt, envelope.id, exc)
        return Outcome(Verdict.RETRY, repr(exc))
