"""Backbone tables that live in every service's own schema: outbox, inbox, audit log.

Each service's first migration creates them in its schema (see `create_backbone_tables`); the
relay, the consumers and `add_event` find them through the session's `info["schema"]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from shared.db import Db


@dataclass(frozen=True)
class BackboneTables:
    schema: str
    outbox: Table
    inbox: Table
    audit_log: Table


@cache
def backbone_tables(schema: str) -> BackboneTables:
    metadata = MetaData(schema=schema)
    outbox = Table(
        "outbox", metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", Text, nullable=False, unique=True),
        Column("routing_key", Text, nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("traceparent", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("next_attempt_at", DateTime(timezone=True), nullable=False,
               server_default=func.now()),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text),
        Column("sent_at", DateTime(timezone=True)),
        # The relay only ever looks at unsent rows: keep that index small.
        Index("ix_outbox_unsent", "next_attempt_at", "id",
              postgresql_where=text("sent_at IS NULL")),
        Index("ix_outbox_sent_at", "sent_at", postgresql_where=text("sent_at IS NOT NULL")),
    )
    inbox = Table(
        "inbox", metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", Text, nullable=False),
        Column("routing_key", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
    )
    audit_log = Table(
        "audit_log", metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("actor", Text, nullable=False),
        Column("action", Text, nullable=False),
        Column("object_type", Text, nullable=False),
        Column("object_id", Text, nullable=False),
        Column("before", JSONB),
        Column("after", JSONB),
        Column("trace_id", Text),
        Index("ix_audit_log_object", "object_type", "object_id"),
    )
    return BackboneTables(schema, outbox, inbox, audit_log)


def tables_of(session: Db) -> BackboneTables:
    schema = session.info.get("schema")
    if not schema:
        raise RuntimeError("session was not made by a service sessionmaker (info['schema'] unset)")
    return backbone_tables(schema)


def install_backbone(connection: Connection, schema: str) -> None:
    """Used by each service's first migration: the v1 shape of the backbone tables.

    Later changes to these tables get migrations of their own; this function is never edited
    in a way that changes what an already-applied migration created.
    """
    tables = backbone_tables(schema)
    tables.outbox.metadata.create_all(connection)
    add_outbox_notify(connection, schema)


def add_outbox_notify(connection: Connection, schema: str) -> None:
    """v1's wake-up of the relays: a NOTIFY on every commit that wrote outbox rows (a migration
    since takes it away again: `remove_outbox_notify`)."""
    connection.execute(text(
        f"""CREATE OR REPLACE FUNCTION "{schema}".notify_outbox() RETURNS trigger AS $$
        BEGIN PERFORM pg_notify('km_outbox_{schema}', ''); RETURN NULL; END;
        $$ LANGUAGE plpgsql"""
    ))
    connection.execute(text(
        f'CREATE TRIGGER outbox_notify AFTER INSERT ON "{schema}".outbox '
        f'FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".notify_outbox()'
    ))


def remove_outbox_notify(connection: Connection, schema: str) -> None:
    """Used by each service's migration after v1: no NOTIFY on the outbox. A transaction that
    notifies takes one cluster-wide lock at commit and holds it through the commit's flush, so
    every writer's commits queued behind each other's; the relays are woken in-process instead
    (shared/messaging/outbox.py)."""
    connection.execute(text(f'DROP TRIGGER IF EXISTS outbox_notify ON "{schema}".outbox'))
    connection.execute(text(f'DROP FUNCTION IF EXISTS "{schema}".notify_outbox()'))


def due_from_insert(connection: Connection, schema: str) -> None:
    """Used by each service's migration after the one without NOTIFY: a new outbox row is due
    from the moment it is inserted (`clock_timestamp()`), not from its transaction's start
    (`now()`). The relay claims in the order of `ix_outbox_unsent` (next_attempt_at, id), so
    that its claim reads only the rows it takes (shared/messaging/relay.py: `_claim`); stamped
    with the transaction's start, an event written after waiting on a lock held by another
    transaction would be claimed before that transaction's event, which it follows."""
    connection.execute(text(f'ALTER TABLE "{schema}".outbox '
                            "ALTER COLUMN next_attempt_at SET DEFAULT clock_timestamp()"))


def due_from_transaction_start(connection: Connection, schema: str) -> None:
    """The downgrade of `due_from_insert`: v1's default."""
    connection.execute(text(
        f'ALTER TABLE "{schema}".outbox ALTER COLUMN next_attempt_at SET DEFAULT now()'))
