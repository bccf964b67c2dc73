"""The outbox relay: claims unsent rows, publishes them with confirms, marks them sent.

Rows are claimed with `SELECT … FOR UPDATE SKIP LOCKED`, never with a "last id" cursor (ids
commit out of order), so any number of relays can run in parallel. The claim transaction stays open
while the batch is published; a relay that dies before its commit releases the locks and the rows
are published again — consumers dedupe through their inbox. A commit that wrote outbox rows wakes
the relays of its own process (shared/messaging/outbox.py); every relay also polls, for rows
written elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import driver_transaction
from shared.messaging.outbox import relay_started, relay_stopped
from shared.messaging.tables import BackboneTables, backbone_tables
from shared.messaging.transport import OutgoingMessage, Transport
from shared.telemetry import messaging_attributes, span_context_from, traceparent_of

log = logging.getLogger(__name__)

# OpenTelemetry's default limit of links per span: more would be dropped.
LINKS_PER_SPAN = 128


@dataclass
class RelayStats:
    published: int = 0
    failed: int = 0
    pruned: int = 0


@dataclass
class OutboxRelay:
    schema: str
    engine: AsyncEngine
    transport: Transport
    tracer: Tracer
    exchange: str = "kommunmobil.events"
    batch_size: int = 200
    poll_seconds: float = 1.0
    max_backoff_seconds: float = 15.0
    retention_hours: float = 72.0
    rounds_in_flight: int = 2
    overlap_after: float = 0.01
    stats: RelayStats = field(default_factory=RelayStats)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _typical_round: float = 0.0  # seconds a round that relayed rows took, a moving average

    @property
    def tables(self) -> BackboneTables:
        return backbone_tables(self.schema)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Relay until cancelled; a round whose confirms are slow is overlapped by the next.

        A round holds its claim transaction until the broker has confirmed its batch, and most of
        a round is that wait. Once a round has been in flight for `overlap_after` seconds — and
        for twice as long as rounds take of late — the next one may start beside it (up to
        `rounds_in_flight` at once); its claim skips the rows still locked. In a slow stretch,
        events committed meanwhile then go out after that delay rather than a slow round later:
        the wait from commit to claim had been a third of the tail of commit-to-effect
        (docs/performance.md, twelfth session). A round that ends within the delay is not
        overlapped: every round costs the service CPU of its own, and overlapping them all made
        rounds half as large and POST /v1/orders costlier (bench/orders_api.py). The rounds are
        independent transactions, as those of parallel relays are: a round that fails or is cut
        short leaves its rows to a later one.
        """
        relay_started(self.schema, self.wake)
        prune_every, last_prune = 600.0, 0.0
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self.rounds_in_flight)
        rounds: dict[asyncio.Task[int], float] = {}  # each round in flight: when it started
        try:
            while True:
                claimed = 0
                try:
                    if self.transport.is_ready():
                        await self._overlap_or_wait(rounds)
                        claimed = await self._start_round(slots, rounds)
                    if loop.time() - last_prune > prune_every:
                        await self.prune()
                        last_prune = loop.time()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("relay %s: round failed, retrying: %r", self.schema, exc)
                if claimed < self.batch_size:  # a full batch means more is likely waiting
                    await self._sleep()
        finally:
            relay_stopped(self.schema, self.wake)
            for task in rounds:
                task.cancel()  # their transactions roll back: the rows are relayed again later
            if rounds:
                await asyncio.wait(list(rounds))

    async def _overlap_or_wait(self, rounds: dict[asyncio.Task[int], float]) -> None:
        """Return once no round is in flight, or the latest one has been for `overlap_after` —
        or twice as long as a round takes of late, if that is longer: under a steady load every
        round takes about as long, and overlapping them would only halve their size."""
        if not rounds:
            return
        after = max(self.overlap_after, 2 * self._typical_round)
        delay = max(rounds.values()) + after - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.wait(list(rounds), timeout=delay, return_when=asyncio.FIRST_COMPLETED)

    async def _start_round(self, slots: asyncio.Semaphore,
                           rounds: dict[asyncio.Task[int], float]) -> int:
        """Start a round once a slot is free; returns how many rows it claimed, as soon as it
        has claimed them (it publishes, marks and commits on its own)."""
        await slots.acquire()
        claimed: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def tell(count: int) -> None:
            if not claimed.done():
                claimed.set_result(count)

        task = asyncio.create_task(self.relay_once(on_claimed=tell))
        rounds[task] = asyncio.get_running_loop().time()

        def finished(done: asyncio.Task[int]) -> None:
            started = rounds.pop(done, None)
            slots.release()
            if started is not None and not done.cancelled() and done.exception() is None \
                    and done.result() > 0:
                took = asyncio.get_running_loop().time() - started
                self._typical_round += 0.1 * (took - self._typical_round)  # moving average
            if done.cancelled():
                claimed.cancel()  # a no-op once it was told its count
            elif (error := done.exception()) is not None:
                if claimed.done():  # it failed after its claim: nobody else reports it
                    log.warning("relay %s: round failed, retrying: %r", self.schema, error)
                elif not claimed.cancelled():
                    claimed.set_exception(error)

        task.add_done_callback(finished)
        return await claimed

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        self._wake.clear()

    async def relay_once(self, on_claimed: Callable[[int], object] = lambda _: None) -> int:
        """Publish one batch of due rows; returns how many rows were claimed (`on_claimed` is
        told as soon as they are)."""
        # A transaction on the bare driver (shared/db.py: DriverTransaction), no ORM session:
        # the relay's statements run for every event, through a session each cost ≈ 0.3 ms of
        # CPU more, and the session's own begin and close are paid per round — at a trickle,
        # every few events.
        async with driver_transaction(self.engine, self.schema) as tx:
            db = tx.connection
            rows = await db.fetch(self._claim, self.batch_size)
            on_claimed(len(rows))
            if not rows:
                return 0
            results = await self._publish_batch(rows)
            sent = [row["id"] for row, error in zip(rows, results, strict=True) if error is None]
            if sent:
                await db.execute(self._mark_sent, sent)
            for row, error in zip(rows, results, strict=True):
                if error is not None:
                    await self._mark_failed(db, row, error)
            self.stats.published += len(sent)
            self.stats.failed += len(rows) - len(sent)
            return len(rows)

    @property
    def _claim(self) -> str:
        """In the order of `ix_outbox_unsent` (next_attempt_at, id): the scan stops once it has
        the batch, and marks dead the entries of rows sent since the last VACUUM as it passes
        them (once no transaction older than their sending is open). Ordered by id, PostgreSQL
        read the whole index and every such row through a bitmap, then sorted: a claim cost
        more with every event sent before it — at 1,650 events/s the median commit-to-effect
        went from 7 to 24 ms in 40 s where autovacuum is off (docs/performance.md, fifteenth
        session). A row is due from its insert (tables.py: `due_from_insert`), so this is the
        order the events were written in; and due by this statement's start, not its
        transaction's: a row inserted and committed after the BEGIN is in the claim's
        snapshot, but stamped later than `now()`."""
        # the envelope rendered as text by PostgreSQL: no decode and re-encode in Python
        return (f'SELECT id, event_id, routing_key, envelope::text AS body, traceparent, attempts '
                f'FROM "{self.schema}".outbox WHERE sent_at IS NULL '
                "AND next_attempt_at <= statement_timestamp() "
                "ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED")

    @property
    def _mark_sent(self) -> str:
        return f'UPDATE "{self.schema}".outbox SET sent_at = now() WHERE id = ANY($1::bigint[])'

    async def _publish_batch(self, rows: Sequence[Any]) -> list[str | None]:
        """Publish the batch in one go, traced as OpenTelemetry's messaging conventions trace a
        batch: every message carries its creation context — the traceparent of the request that
        wrote the row — so the consumer's span continues that request's trace; one producer span
        per routing key (and per LINKS_PER_SPAN messages) times the publish and links to each
        message's creation context. A span per message cost ≈ 60 µs per event
        (bench/events.py)."""
        spans, traceparents = self._open_publish_spans(rows)
        messages = [OutgoingMessage(row["routing_key"], row["body"].encode(), row["event_id"],
                                    {"traceparent": traceparent})
                    for row, traceparent in zip(rows, traceparents, strict=True)]
        errors: list[str | None] = ["relay stopped"] * len(rows)
        try:
            errors = await self.transport.publish_many(messages)
        finally:
            for span, part in spans:
                failed = [errors[i] for i in part if errors[i] is not None]
                if failed:
                    span.set_status(Status(StatusCode.ERROR,
                                           f"{len(failed)} of {len(part)} not published: "
                                           f"{failed[0]}"))
                span.end()
        return errors

    def _open_publish_spans(self, rows: Sequence[Any]
                            ) -> tuple[list[tuple[Span, list[int]]], list[str]]:
        """The batch's producer spans (each with the indexes of its rows) and each row's
        traceparent to send: its creation context, or its span's when it was written outside
        any trace."""
        groups: dict[str, list[int]] = {}
        for index, row in enumerate(rows):
            groups.setdefault(row["routing_key"], []).append(index)
        spans: list[tuple[Span, list[int]]] = []
        traceparents = [""] * len(rows)
        for routing_key, indexes in groups.items():
            for start in range(0, len(indexes), LINKS_PER_SPAN):
                part = indexes[start:start + LINKS_PER_SPAN]
                creators = [span_context_from(rows[i]["traceparent"]) for i in part]
                span = self.tracer.start_span(
                    f"{routing_key} publish", context=otel_context.Context(),  # a root
                    kind=SpanKind.PRODUCER,
                    links=[Link(creator) for creator in creators if creator is not None],
                    attributes=messaging_attributes("publish", self.exchange, routing_key,
                                                    batch_size=len(part)))
                own = traceparent_of(span) or ""
                for i, creator in zip(part, creators, strict=True):
                    traceparents[i] = rows[i]["traceparent"] if creator else own
                spans.append((span, part))
        return spans, traceparents

    async def _mark_failed(self, db: asyncpg.Connection, row: asyncpg.Record, error: str
                           ) -> None:
        delay = min(self.max_backoff_seconds, 0.25 * 2 ** min(row["attempts"], 16))
        log.warning("relay %s: %s not published (attempt %d): %s",
                    self.schema, row["event_id"], row["attempts"] + 1, error)
        await db.execute(
            f'UPDATE "{self.schema}".outbox SET attempts = attempts + 1, last_error = $2, '
            "next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
            row["id"], error[:2000], delay)

    async def prune(self) -> int:
        """Delete rows sent longer than `retention_hours` ago; returns how many."""
        async with driver_transaction(self.engine, self.schema) as tx:
            status = await tx.connection.execute(
                f'DELETE FROM "{self.schema}".outbox '
                "WHERE sent_at < now() - make_interval(secs => $1)",
                self.retention_hours * 3600.0)
        pruned = int(status.split()[-1])  # "DELETE <count>"
        self.stats.pruned += pruned
        return pruned
