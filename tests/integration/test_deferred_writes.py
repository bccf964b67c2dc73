"""Writes deferred to a driver transaction's commit (shared/db.py: write_rows, combined).

Placing an order writes its row, its audit entry and its event in one statement just before the
commit instead of three round trips. These tests hold what that must not change: the rows are
written in the order given, all or nothing with the rest of the transaction, and a failing write
fails the transaction. Against the real PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import combined, driver_transaction, make_engine, write_rows

NOTE = 'INSERT INTO "{schema}".note (body, n) VALUES ($1, $2)'
TALLY = 'INSERT INTO "{schema}".tally (label) VALUES ($1)'


@pytest.fixture
async def scratch(database_url: str) -> AsyncIterator[tuple[AsyncEngine, str]]:
    engine = make_engine(database_url, pool_size=2)
    schema = f"deferred_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        await connection.execute(text(
            f'CREATE TABLE "{schema}".note (id bigserial PRIMARY KEY, body text NOT NULL, '
            "n int NOT NULL CHECK (n >= 0))"))
        await connection.execute(text(
            f'CREATE TABLE "{schema}".tally (id bigserial PRIMARY KEY, label text UNIQUE)'))
    yield engine, schema
    async with engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await engine.dispose()


async def rows(engine: AsyncEngine, sql: str) -> list[tuple[object, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in (await connection.execute(text(sql))).all()]


async def test_deferred_rows_are_written_at_the_commit_in_the_order_given(
        scratch: tuple[AsyncEngine, str]) -> None:
    engine, schema = scratch
    async with driver_transaction(engine, schema) as tx:
        await write_rows(tx, NOTE.format(schema=schema), [("first", 1)])
        await write_rows(tx, TALLY.format(schema=schema), [("a",), ("b",)])
        await write_rows(tx, NOTE.format(schema=schema), [("second", 2), ("third", 3)])
        # Deferred: not in the transaction yet (nothing may read them back before the commit).
        assert await tx.connection.fetchval(f'SELECT count(*) FROM "{schema}".note') == 0
        assert len(tx.deferred) == 5
    assert await rows(engine, f'SELECT body, n FROM "{schema}".note ORDER BY id') == [
        ("first", 1), ("second", 2), ("third", 3)]
    assert await rows(engine, f'SELECT label FROM "{schema}".tally ORDER BY id') == [
        ("a",), ("b",)]


async def test_nothing_deferred_is_written_when_the_transaction_fails(
        scratch: tuple[AsyncEngine, str]) -> None:
    engine, schema = scratch
    with pytest.raises(RuntimeError):
        async with driver_transaction(engine, schema) as tx:
            await tx.connection.execute(f'INSERT INTO "{schema}".tally (label) VALUES (\'now\')')
            await write_rows(tx, NOTE.format(schema=schema), [("lost", 1)])
            raise RuntimeError("refused after the writes were recorded")
    assert await rows(engine, f'SELECT * FROM "{schema}".note') == []
    assert await rows(engine, f'SELECT * FROM "{schema}".tally') == []


@pytest.mark.parametrize("way", ["one statement", "a table's rows together"])
async def test_a_failing_deferred_write_fails_the_whole_transaction(
        scratch: tuple[AsyncEngine, str], way: str) -> None:
    engine, schema = scratch
    failure = (asyncpg.UniqueViolationError if way == "one statement"
               else asyncpg.CheckViolationError)
    with pytest.raises(failure):
        async with driver_transaction(engine, schema) as tx:
            await tx.connection.execute(f'INSERT INTO "{schema}".tally (label) VALUES (\'x\')')
            if way == "one statement":
                await write_rows(tx, NOTE.format(schema=schema), [("fine", 1)])
                await write_rows(tx, TALLY.format(schema=schema), [("x",)])  # taken above
            else:
                await write_rows(tx, NOTE.format(schema=schema), [("fine", 1), ("bad", -1)])
    assert await rows(engine, f'SELECT * FROM "{schema}".note') == []
    assert await rows(engine, f'SELECT * FROM "{schema}".tally') == []
    # The connection went back to the pool usable, outside any transaction.
    async with driver_transaction(engine, schema) as tx:
        await write_rows(tx, NOTE.format(schema=schema), [("after", 1)])
    assert await rows(engine, f'SELECT body FROM "{schema}".note') == [("after",)]


async def test_on_a_session_the_rows_are_written_at_once(
        scratch: tuple[AsyncEngine, str]) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    engine, schema = scratch
    async with AsyncSession(engine) as session, session.begin():
        await write_rows(session, NOTE.format(schema=schema), [("now", 1)])
        assert (await session.execute(text(
            f'SELECT count(*) FROM "{schema}".note'))).scalar_one() == 1


def test_combined_renumbers_each_writes_parameters_into_one_statement() -> None:
    sql, args = combined([("INSERT INTO a (x, y) VALUES ($1, $2::jsonb)", (1, "{}")),
                          ("INSERT INTO b (x) VALUES ($1)", (2,)),
                          ("UPDATE c SET x = $2 WHERE id = $1", (3, None))])
    assert sql == ("WITH w0 AS (INSERT INTO a (x, y) VALUES ($1, $2::jsonb)), "
                   "w1 AS (INSERT INTO b (x) VALUES ($3)) UPDATE c SET x = $5 WHERE id = $4")
    assert args == [1, "{}", 2, 3, None]
    assert combined([("DELETE FROM a WHERE x = $1", (1,))]) == ("DELETE FROM a WHERE x = $1", [1])


async def test_one_row_per_text_is_one_statement_and_it_writes_every_table(
        scratch: tuple[AsyncEngine, str]) -> None:
    engine, schema = scratch
    sent: list[str] = []
    async with driver_transaction(engine, schema) as tx:
        await write_rows(tx, NOTE.format(schema=schema), [("order", 1)])
        await write_rows(tx, TALLY.format(schema=schema), [("event",)])
        tx.connection.add_query_logger(log := lambda record: sent.append(record.query))
    tx.connection.remove_query_logger(log)
    writes = [query for query in sent if "INSERT" in query]
    assert len(writes) == 1 and writes[0].startswith("WITH w0 AS (INSERT")
    assert await rows(engine, f'SELECT body FROM "{schema}".note') == [("order",)]
    assert await rows(engine, f'SELECT label FROM "{schema}".tally') == [("event",)]


async def test_two_texts_writing_one_table_keep_the_order_written(
        scratch: tuple[AsyncEngine, str]) -> None:
    """PostgreSQL runs a statement's CTEs in no promised order: these go one by one."""
    engine, schema = scratch
    other_text = f'INSERT INTO "{schema}".note (n, body) VALUES ($1, $2)'
    async with driver_transaction(engine, schema) as tx:
        await write_rows(tx, NOTE.format(schema=schema), [("first", 1)])
        await write_rows(tx, other_text, [(2, "second")])
        await write_rows(tx, NOTE.format(schema=schema), [("third", 3)])
    assert await rows(engine, f'SELECT body FROM "{schema}".note ORDER BY id') == [
        ("first",), ("second",), ("third",)]


@pytest.mark.parametrize("sql", [
    "UPDATE note SET n = $1", "DELETE FROM note WHERE n = $1",
    "INSERT INTO note (body, n) VALUES ('x', $1)", "INSERT INTO note (body, n) SELECT $1, $2",
    "WITH w AS (DELETE FROM tally) INSERT INTO note (body, n) VALUES ($1, $2)"])
async def test_only_plain_inserts_may_be_deferred(scratch: tuple[AsyncEngine, str],
                                                  sql: str) -> None:
    engine, schema = scratch
    async with driver_transaction(engine, schema) as tx:
        with pytest.raises(ValueError, match="plain INSERT"):
            await write_rows(tx, sql, [(1, 2)])
        assert tx.deferred == []
