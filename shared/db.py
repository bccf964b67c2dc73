"""Database access: one async engine per service, its own schema, and the one transaction wrapper.

Only the outermost wrapper commits (the request dependency or the consumer); services and
repositories at most `flush()`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import MetaData, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from shared.pool import FairAsyncPool

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> MetaData:
    """Metadata whose tables all live in one service's schema."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int | None = None,
                application_name: str = "") -> AsyncEngine:
    """`max_overflow`: connections opened beyond `pool_size` under load (default: as many)."""
    engine = create_async_engine(
        url,
        poolclass=FairAsyncPool,  # waiting requests served in order (shared/pool.py)
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        # Not pool_pre_ping: for asyncpg it costs three round trips per checkout (BEGIN, ping,
        # ROLLBACK). _refuse_closed_connections below catches what a restart leaves behind.
        pool_timeout=10,
        connect_args={
            "server_settings": {"application_name": application_name or "kommunmobil"},
            "timeout": 5,
            "command_timeout": 30,
        },
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connections)
    return engine


def make_relay_engine(url: str, *, application_name: str) -> AsyncEngine:
    """The outbox relay's own connections, apart from the pool that serves requests.

    A relay holds a connection for each round's transaction: two when its rounds overlap
    (shared/messaging/relay.py: `rounds_in_flight`); its pruning, every ten minutes, waits for
    one of them. Taking them from the service's pool, the relay waited in line behind requests
    for each round under load, and each round's connection was one fewer for them: the orders
    benchmark's POST ratio read 0.03–0.09 lower with the same pool (docs/performance.md, "Runs
    of the eleventh session"). A bulkhead either way: a saturated pool no longer holds events
    back, and a slow broker no longer keeps one of the pool's connections for its confirms."""
    return make_engine(url, pool_size=2, max_overflow=0, application_name=application_name)


# On RabbitMQ a consumer runs one transaction per worker at a time — its batch worker and its
# redelivery worker (shared/messaging/rabbitmq.py); it asks whether PostgreSQL answers only once
# a failed transaction has given its connection back. In process, each relay publishing to it
# hands it a batch in its own round: in the embedded default two relays feed orders and
# inventory. Three, up to six under load, leave room for both.
CONSUMER_POOL_SIZE = 3


def make_consumer_engine(url: str, *, application_name: str) -> AsyncEngine:
    """The event consumer's connections, apart from the requests' pool, as the relay's are
    (`make_relay_engine`). A burst of requests no longer holds back the events of the other
    services (an employment that ended, a device issued) while it lasts, and a consumer's wait
    for a pooled connection no longer runs into the pool's timeout — which, once the outage
    probe found PostgreSQL answering, counted against the delivery's limit like a failure of the
    message."""
    return make_engine(url, pool_size=CONSUMER_POOL_SIZE, application_name=application_name)


def _refuse_closed_connections(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled connection whose socket PostgreSQL closed (a restart, a terminated backend) is
    replaced at checkout, without a round trip: the pool retries with a fresh connection."""
    raw = getattr(dbapi_connection, "_connection", None)
    if raw is not None and raw.is_closed():
        raise DisconnectionError("pooled connection was closed by the server")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Open a session, commit on success, roll back on any exception."""
    async with sessions() as session, session.begin():
        yield session


@dataclass(frozen=True, slots=True)
class DriverTransaction:
    """A transaction on a pooled asyncpg connection, with no ORM session around it.

    For a hot write path whose every statement goes straight to asyncpg anyway (`driver`): a
    session's own begin, commit, close and greenlet hops were ≈ 16 % of POST /v1/orders' CPU
    (docs/performance.md). It holds what the shared writers (`driver`, `write_rows`,
    shared/audit.py, shared/messaging/outbox.py) need of a session: the connection, `info`
    with the service's schema, and the writes deferred to its commit (`write_rows`). Made by
    `driver_transaction`.
    """

    connection: asyncpg.Connection
    info: Mapping[str, Any]
    deferred: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    committed_hooks: dict[str, Callable[[], None]] = field(default_factory=dict)  # after_commit

    async def flush(self) -> None:
        """Send the deferred writes. One statement when each goes to a table of its own
        (placing an order: its row, audit entry and event); a table's several rows together,
        in order; and one by one, in order, when two SQL texts write one table."""
        writes = list(self.deferred)
        self.deferred.clear()
        by_text: dict[str, list[tuple[Any, ...]]] = {}
        for sql, row in writes:
            by_text.setdefault(sql, []).append(row)
        if len({_table_written(sql) for sql in by_text}) < len(by_text):
            for sql, row in writes:
                await self.connection.execute(sql, *row)
        elif all(len(rows) == 1 for rows in by_text.values()):
            if by_text:
                sql, args = combined([(sql, rows[0]) for sql, rows in by_text.items()])
                await self.connection.execute(sql, *args)
        else:
            for sql, rows in by_text.items():
                await self.connection.executemany(sql, rows)


# Where the shared writers are given a transaction: a session's, or a bare driver's.
Db = AsyncSession | DriverTransaction


@asynccontextmanager
async def pooled_driver(engine: AsyncEngine) -> AsyncIterator[tuple[AsyncConnection,
                                                                     asyncpg.Connection]]:
    """A pooled asyncpg connection, outside any transaction, with the Core connection it was
    checked out through. That Core connection never executes, so it begins nothing; closing it
    keeps the pool's checkout checks and returns the connection (or closes one beyond the
    pool's size) properly from async code — a bare raw_connection().close() cannot close an
    asyncpg connection."""
    async with engine.connect() as connection:
        yield connection, (await connection.get_raw_connection()).driver_connection


@asynccontextmanager
async def driver_transaction(engine: AsyncEngine, schema: str
                             ) -> AsyncIterator[DriverTransaction]:
    """Commit on success (after the deferred writes), roll back on any exception; the connection
    goes back to the pool."""
    async with pooled_driver(engine) as (connection, raw):
        try:
            async with raw.transaction():
                transaction = DriverTransaction(raw, {"schema": schema})
                yield transaction
                await transaction.flush()
            _run_hooks(transaction.committed_hooks)
        finally:
            # SQLAlchemy's reset on return rolls back only a transaction its adapter began, not
            # this one: a COMMIT or ROLLBACK that never completed (cancelled twice, a broken
            # socket) would hand the next request a connection inside a transaction. Such a
            # connection is discarded instead.
            if not raw.is_closed() and raw.is_in_transaction():
                await connection.invalidate()


def after_commit(db: Db, key: str, hook: Callable[[], None]) -> None:
    """Call `hook` once `db`'s transaction has committed — once per `key`, never if it rolls
    back. For what only matters once the rows are there for others to see (waking the outbox
    relay: shared/messaging/outbox.py). A hook must not fail: the commit is done."""
    if isinstance(db, DriverTransaction):
        db.committed_hooks.setdefault(key, hook)
    else:
        db.info.setdefault(_AFTER_COMMIT, {}).setdefault(key, hook)


_AFTER_COMMIT = "km_after_commit"


def _run_hooks(hooks: dict[str, Callable[[], None]]) -> None:
    for hook in hooks.values():
        try:
            hook()
        except Exception:  # the commit stands; a hook is a hint
            log.exception("after-commit hook failed")


@event.listens_for(Session, "after_commit")
def _session_committed(session: Session) -> None:
    # Fired for a savepoint's release too: its rows are not committed until the outermost
    # transaction is.
    if not session.in_nested_transaction():
        _run_hooks(session.info.pop(_AFTER_COMMIT, {}))


@event.listens_for(Session, "after_transaction_end")
def _session_transaction_ended(session: Session, transaction: Any) -> None:
    # The outermost transaction is over: committed (its hooks ran just before), rolled back, or
    # closed with the session (no after_rollback then): nothing is left for a later commit.
    if transaction.parent is None:
        session.info.pop(_AFTER_COMMIT, None)


async def driver(session: Db) -> asyncpg.Connection:
    """The asyncpg connection under `session`'s transaction, for the hottest statements.

    Each statement through the session costs ≈ 0.3 ms of CPU on top of asyncpg's own (greenlet
    hop, cache-key lookup, parameter and result processing); on the paths every request takes
    (audit, outbox, an order's context) that was most of the service's time (docs/performance.md).
    Statements sent here are in the same transaction: they commit or roll back with the session.
    jsonb parameters are passed as JSON text (the codec SQLAlchemy installs expects strings) and
    come back decoded.
    """
    if isinstance(session, DriverTransaction):
        return session.connection
    known = session.info.get(_DRIVER)
    if known is not None:
        return known  # type: ignore[no-any-return]
    connection = await session.connection()
    adapted = (await connection.get_raw_connection()).dbapi_connection
    # SQLAlchemy's asyncpg adapter opens the transaction lazily, at its own first statement;
    # open it now, or a statement sent here first would run outside it (autocommitted).
    if not adapted._started:  # type: ignore[union-attr]
        await adapted._start_transaction()  # type: ignore[union-attr]
    raw: asyncpg.Connection = adapted._connection  # type: ignore[union-attr]
    session.info[_DRIVER] = raw
    return raw


_DRIVER = "km_driver_connection"


async def write_rows(db: Db, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """Rows written for the record (audit, outbox, a new row nothing reads back before the
    commit): on a driver transaction they are sent together just before it commits
    (`DriverTransaction.flush`: one statement when each goes to a table of its own, a table's
    rows in the order written); on a session at once (`execute_rows`).

    Each round trip costs the service ≈ 0.1 ms of CPU here (a send, an event-loop wake-up, a
    read), as much as orders' own rules for an order: placing one wrote its row, its audit entry
    and its event in three (docs/performance.md). `sql` must be a plain `INSERT INTO table (…)
    VALUES (…)` with `$n` parameters and no string literal, and nothing in the transaction may
    read what it writes or write the same table at once: the rows are not there until the
    commit.
    """
    _table_written(sql)
    if isinstance(db, DriverTransaction):
        db.deferred.extend((sql, row) for row in rows)
    else:
        await execute_rows(db, sql, rows)


_PARAMETER = re.compile(r"\$(\d+)")
_DEFERRABLE = re.compile(r'\s*INSERT INTO ([\w".]+) \([^)]*\) VALUES \([$\d\s,:\w]*\)\s*',
                         re.IGNORECASE)


@functools.lru_cache(maxsize=256)  # a few constant texts, checked on every audit and event
def _table_written(sql: str) -> str:
    match = _DEFERRABLE.fullmatch(sql)
    if match is None or "'" in sql:
        raise ValueError(f"write_rows takes a plain INSERT … VALUES ($1, …), not: {sql[:120]}")
    return match[1].replace('"', "")


def combined(writes: list[tuple[str, tuple[Any, ...]]]) -> tuple[str, list[Any]]:
    """Single-row writes as one statement: each but the last becomes a data-modifying CTE,
    which PostgreSQL runs exactly once and to completion whether or not the statement reads
    it; parameters are renumbered. PostgreSQL applies a statement's CTEs in no promised order,
    so a table's writes must keep their order some other way (`flush`: one row per table).
    The same writes give the same text, so asyncpg prepares each shape once."""
    parts: list[str] = []
    args: list[Any] = []
    for sql, row in writes:
        offset = len(args)
        parts.append(_PARAMETER.sub(lambda m: f"${int(m[1]) + offset}", sql)  # noqa: B023
                     if offset else sql)
        args.extend(row)
    *ctes, last = parts
    prefix = "WITH " + ", ".join(f"w{i} AS ({cte})" for i, cte in enumerate(ctes)) + " "
    return (prefix if ctes else "") + last, args


async def execute_rows(session: Db, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """`sql` once per row, through `driver`: one statement for one row, else one executemany."""
    if not rows:
        return
    connection = await driver(session)
    if len(rows) == 1:
        await connection.execute(sql, *rows[0])
    else:
        await connection.executemany(sql, rows)


@event.listens_for(Session, "after_transaction_create")
@event.listens_for(Session, "after_transaction_end")
def _forget_driver(session: Session, transaction: Any) -> None:
    """What `driver` found holds for one (sub)transaction. A savepoint begun by the session is
    only emitted when the session next takes its connection: forgetting here makes the next
    `driver` call do that, so its statements land inside the savepoint."""
    session.info.pop(_DRIVER, None)


async def transaction_lock(session: AsyncSession, key: str) -> None:
    """Take the advisory lock named `key` until the session's transaction ends, waiting while
    another transaction holds it."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                          {"key": key})


async def try_transaction_lock(session: AsyncSession, key: str) -> bool:
    """`transaction_lock`, but False at once when another transaction holds it (a scheduled job
    that one replica at a time should run)."""
    result = await session.execute(
        text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
    return bool(result.scalar_one())


async def database_answers(engine: AsyncEngine, timeout: float) -> bool:
    """Whether PostgreSQL answers a `SELECT 1` within `timeout` seconds, connecting included."""
    try:
        async with asyncio.timeout(timeout), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except asyncio.CancelledError:
        raise
    except Exception:
        return False
    return True


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


_TRANSIENT = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    sa_exc.TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """True when the failure looks like the infrastructure's, not the message's. A guess from
    the exception's class: the consumer asks the database before holding a message for it
    (shared/messaging/consumer.py: `_database_answers`)."""
    return any(isinstance(cause, _TRANSIENT) or _closed_connection(cause)
               or (isinstance(cause, sa_exc.DBAPIError) and cause.connection_invalidated)
               for cause in _causes(exc))


def _closed_connection(cause: BaseException) -> bool:
    # asyncpg says "connection is closed" with a plain InterfaceError; its subclasses are about
    # the client or the statement (its configuration, a feature it lacks, a value it cannot
    # take): a retry fails the same way, for ever.
    return type(cause) is asyncpg.InterfaceError


# SQLSTATE class 22, "data exception": a NUL character in text (22021), a \u0000 escape in jsonb
# (22P05), a number beyond its column's type (22003), a text too long for it (22001). asyncpg
# raises the same class for a value it cannot encode before sending it (out of int32 range).
UNSTORABLE_VALUE = (asyncpg.exceptions.DataError,)


def is_unstorable_value(exc: BaseException) -> bool:
    """True when PostgreSQL (or asyncpg) refused a value of the request — a NUL character, a
    number out of range — that validation let through: the caller's input, answered 422."""
    return any(isinstance(cause, UNSTORABLE_VALUE) for cause in _causes(exc))


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what caused it: SQLAlchemy's `orig`, else the exception's cause or context."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (
            current.__cause__ or current.__context__)
