"""shared.db.driver: statements sent straight to asyncpg share the session's transaction; a
driver transaction (no session) is as atomic."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import (
    after_commit,
    driver,
    driver_transaction,
    execute_rows,
    make_engine,
    transaction,
    write_rows,
)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url, pool_size=2)
    table = f"driver_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE TABLE {table} (n int PRIMARY KEY)"))
    made = async_sessionmaker(engine, expire_on_commit=False, info={"table": table})
    yield made
    async with engine.begin() as connection:
        await connection.execute(text(f"DROP TABLE {table}"))
    await engine.dispose()


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    table = sessions.kw["info"]["table"]
    async with sessions() as session:
        return list((await session.execute(text(f"SELECT n FROM {table} ORDER BY n"))).scalars())


class Boom(Exception):
    pass


async def test_a_driver_statement_sent_first_rolls_back_with_the_session(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    table = sessions.kw["info"]["table"]
    with pytest.raises(Boom):
        async with transaction(sessions) as session:
            await (await driver(session)).execute(f"INSERT INTO {table} VALUES (1)")
            raise Boom  # before any statement through the session itself
    assert await rows(sessions) == []


async def test_driver_and_session_statements_commit_together(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    table = sessions.kw["info"]["table"]
    async with transaction(sessions) as session:
        await session.execute(text(f"INSERT INTO {table} VALUES (1)"))
        await (await driver(session)).execute(f"INSERT INTO {table} VALUES (2)")
        seen = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
        assert seen == 2  # one transaction sees both
    assert await rows(sessions) == [1, 2]


async def test_a_savepoint_undoes_only_its_own_driver_statements(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    table = sessions.kw["info"]["table"]
    async with transaction(sessions) as session:
        await (await driver(session)).execute(f"INSERT INTO {table} VALUES (1)")
        savepoint = await session.begin_nested()
        await (await driver(session)).execute(f"INSERT INTO {table} VALUES (2)")
        await savepoint.rollback()
        await (await driver(session)).execute(f"INSERT INTO {table} VALUES (3)")
    assert await rows(sessions) == [1, 3]


async def test_a_session_reused_after_commit_opens_a_new_transaction(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    table = sessions.kw["info"]["table"]
    async with sessions() as session:
        async with session.begin():
            await (await driver(session)).execute(f"INSERT INTO {table} VALUES (1)")
        await (await driver(session)).execute(f"INSERT INTO {table} VALUES (2)")
        await session.rollback()
    assert await rows(sessions) == [1]


async def test_a_driver_transaction_commits_or_rolls_back_and_returns_a_clean_connection(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """shared.db.driver_transaction (POST /v1/orders): everything or nothing, and the pooled
    connection goes back outside any transaction, also after a failure."""
    table = sessions.kw["info"]["table"]
    engine = sessions.kw["bind"]
    async with driver_transaction(engine, "public") as db:
        await (await driver(db)).execute(f"INSERT INTO {table} VALUES (1)")
        await execute_rows(db, f"INSERT INTO {table} VALUES ($1)", [(2,), (3,)])
        connection = db.connection
    assert not connection.is_in_transaction()
    with pytest.raises(Boom):
        async with driver_transaction(engine, "public") as db:
            await db.connection.execute(f"INSERT INTO {table} VALUES (4)")
            raise Boom
    assert not db.connection.is_in_transaction()
    with pytest.raises(asyncpg.UniqueViolationError):
        async with driver_transaction(engine, "public") as db:
            await db.connection.execute(f"INSERT INTO {table} VALUES (5)")
            await db.connection.execute(f"INSERT INTO {table} VALUES (1)")
    assert await rows(sessions) == [1, 2, 3]
    async with driver_transaction(engine, "public") as db:  # the pool's connections still work
        assert await db.connection.fetchval(f"SELECT count(*) FROM {table}") == 3


async def test_after_commit_hooks_run_once_the_outermost_transaction_commits_never_on_rollback(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """shared.db.after_commit (what wakes the outbox relay): not at a savepoint's release, whose
    rows are not committed yet; once per key; never for a transaction rolled back."""
    table = sessions.kw["info"]["table"]
    ran: list[str] = []
    async with transaction(sessions) as session:
        after_commit(session, "wake", lambda: ran.append("outer"))
        after_commit(session, "wake", lambda: ran.append("same key again"))
        async with session.begin_nested():
            await (await driver(session)).execute(f"INSERT INTO {table} VALUES (1)")
            after_commit(session, "other", lambda: ran.append("inside the savepoint"))
        assert ran == []  # the savepoint was released, nothing is committed
        savepoint = await session.begin_nested()
        await savepoint.rollback()  # a savepoint rolled back leaves the transaction's hooks
        assert ran == []
    assert ran == ["outer", "inside the savepoint"]
    ran.clear()
    with pytest.raises(Boom):
        async with transaction(sessions) as session:
            after_commit(session, "wake", lambda: ran.append("rolled back"))
            raise Boom
    async with transaction(sessions) as session:  # nothing left over for the next commit
        await (await driver(session)).execute(f"INSERT INTO {table} VALUES (2)")
    assert ran == []


async def test_after_commit_hooks_of_a_session_closed_without_committing_never_run(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """Closing a session rolls its open transaction back (the pool's reset on return) without
    SQLAlchemy's after_rollback: its hooks must not wait there for the session's next commit."""
    table = sessions.kw["info"]["table"]
    ran: list[str] = []
    session = sessions()
    await session.begin()
    await (await driver(session)).execute(f"INSERT INTO {table} VALUES (1)")
    after_commit(session, "wake", lambda: ran.append("closed, never committed"))
    await session.close()
    async with session.begin():  # the same session, a transaction of its own
        await (await driver(session)).execute(f"INSERT INTO {table} VALUES (2)")
    await session.close()
    assert await rows(sessions) == [2]
    assert ran == []


async def test_after_commit_hooks_of_a_driver_transaction_run_after_its_commit_only(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    table = sessions.kw["info"]["table"]
    engine = sessions.kw["bind"]
    ran: list[int] = []

    def count_rows_seen_elsewhere() -> None:  # the hook sees the commit done
        ran.append(1)

    async with driver_transaction(engine, "public") as db:
        after_commit(db, "wake", count_rows_seen_elsewhere)
        await write_rows(db, f"INSERT INTO {table} (n) VALUES ($1)", [(1,)])
        assert ran == []
    assert ran == [1]
    with pytest.raises(Boom):
        async with driver_transaction(engine, "public") as db:
            after_commit(db, "wake", count_rows_seen_elsewhere)
            raise Boom
    with pytest.raises(asyncpg.UniqueViolationError):  # the commit's own writes fail
        async with driver_transaction(engine, "public") as db:
            after_commit(db, "wake", count_rows_seen_elsewhere)
            await write_rows(db, f"INSERT INTO {table} (n) VALUES ($1)", [(1,)])
    assert ran == [1]
