"""The transactional outbox: an event is written in the same transaction as the state change.

Once that transaction commits, the relays of this process for the schema are woken at once
(`after_commit`): the process that wrote a row is the one that relays it first. No PostgreSQL
NOTIFY: a transaction that notifies takes one cluster-wide lock at its commit and holds it
through the commit's flush, so every committing notifier waits for the one before it
(docs/architecture.md). Rows written where no relay runs (another process, a migration, a
command) are found by every relay's poll (`poll_seconds`), as are the rows of a process that
died before its relay got to them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from shared.db import Db, after_commit, write_rows
from shared.events.base import SCHEMA_BASE, SOURCE_PREFIX, Envelope, Event, wrap
from shared.messaging.tables import tables_of
from shared.telemetry import current_traceparent

log = logging.getLogger(__name__)


async def add_event(session: Db, event: Event, *, subject: str | None = None) -> Envelope:
    """Record `event` for publication; it is published only if the caller's transaction commits."""
    (envelope,) = await add_events(session, [(event, subject)])
    return envelope


async def add_events(
    session: Db, events: Sequence[tuple[Event, str | None]]
) -> list[Envelope]:
    """`add_event` for many events at once (bulk receipts, imports): the same rows.

    Straight to asyncpg (shared/db.py: driver): every state change writes at least one.
    """
    traceparent = current_traceparent()
    envelopes = [wrap(event, subject=subject, traceparent=traceparent) for event, subject in events]
    rows = [(envelope.id, event.routing_key(), envelope.model_dump_json(exclude_none=True),
             traceparent) for envelope, (event, _) in zip(envelopes, events, strict=True)]
    schema = tables_of(session).schema
    sql = (f'INSERT INTO "{schema}".outbox (event_id, routing_key, envelope, '
           "traceparent) VALUES ($1, $2, $3, $4)")
    await write_rows(session, sql, rows)
    wake_relays_on_commit(session, schema)
    return envelopes


# The wake-up of each relay running in this process, by the schema whose outbox it relays.
_relays_here: dict[str, list[Callable[[], None]]] = {}


def relay_started(schema: str, wake: Callable[[], None]) -> None:
    _relays_here.setdefault(schema, []).append(wake)


def relay_stopped(schema: str, wake: Callable[[], None]) -> None:
    wakes = _relays_here.get(schema, [])
    if wake in wakes:
        wakes.remove(wake)


def wake_relays_on_commit(session: Db, schema: str) -> None:
    """Wake this process's relays of `schema` once `session`'s transaction has committed."""
    after_commit(session, f"outbox:{schema}", partial(_wake_relays, schema))


def _wake_relays(schema: str) -> None:
    for wake in list(_relays_here.get(schema, ())):
        try:
            wake()
        except RuntimeError:  # a relay left behind by a closed event loop: the others still wake
            log.debug("relay of %s could not be woken", schema, exc_info=True)


def outbox_insert_from(
    session: Db, event_cls: type[Event], source: str, *, schema: str
) -> tuple[str, dict[str, Any]]:
    """The set-based `add_event`: SQL that writes one outbox row per row of `source`.

    `source` is a relation in the caller's statement (a CTE name, e.g. one fed by
    `UPDATE … RETURNING`) with the columns `subject` (text) and `data` (jsonb: the event's fields,
    exactly as `event.model_dump(mode="json")` would give them). The envelope is built in SQL in
    the same CloudEvents shape as `wrap()`, so the relay and consumers cannot tell the rows apart;
    the caller prefixes its `WITH …` and executes the result in its own transaction. Nothing
    validates `data` against the event model here: the caller's tests must decode what it writes.
    `session` is the transaction the caller executes it in: its commit wakes the relays.
    """
    wake_relays_on_commit(session, schema)
    traceparent = current_traceparent()
    tail = ", 'traceparent', CAST(:km_traceparent AS text)" if traceparent else ""
    sql = f"""INSERT INTO "{schema}".outbox (event_id, routing_key, envelope, traceparent)
SELECT s.event_id, :km_routing_key, jsonb_build_object(
    'specversion', '1.0', 'id', s.event_id, 'source', CAST(:km_source AS text),
    'type', CAST(:km_type AS text),
    'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'datacontenttype', 'application/json', 'dataschema', CAST(:km_dataschema AS text),
    'subject', s.subject, 'data', s.data{tail}), CAST(:km_traceparent AS text)
FROM (SELECT gen_random_uuid()::text AS event_id, src.subject, src.data
      FROM {source} AS src) AS s"""
    params = {
        "km_routing_key": event_cls.routing_key(),
        "km_source": SOURCE_PREFIX + event_cls.service,
        "km_type": event_cls.cloudevent_type(),
        "km_dataschema": f"{SCHEMA_BASE}{event_cls.routing_key()}.json",
        "km_traceparent": traceparent,
    }
    return sql, params
