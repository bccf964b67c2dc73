"""The relay's claim: in the order events were written, and reading only what it takes.

Against real PostgreSQL, on the in-process transport (the claim does not depend on the broker).
PostgreSQL's work is read off `EXPLAIN (ANALYZE, BUFFERS)` — pages, not time.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from sqlalchemy import text

from shared.db import asyncpg_dsn, pooled_driver
from shared.messaging.outbox import add_event
from shared.messaging.transport import OutgoingMessage
from shared.migrations import alembic_config, upgrade_to_head_async
from tests.conftest import ADMIN_DATABASE_URL
from tests.harness import Probe, start_probe, unit_event
from tests.support.throwaway import throwaway_database


@pytest.fixture
async def probe(database_url: str) -> AsyncIterator[Probe]:
    probe = await start_probe(database_url, "inprocess", run_relay=False, batch_size=500)
    yield probe
    await probe.stop()


def record_publishes(probe: Probe) -> list[str]:
    """The unit ids the relay hands to the transport, in the order it hands them over."""
    published: list[str] = []
    publish_many = probe.transport.publish_many

    async def recording(messages: Sequence[OutgoingMessage]) -> list[str | None]:
        published.extend(json.loads(m.body)["data"]["unit_id"] for m in messages)
        return await publish_many(messages)

    probe.transport.publish_many = recording  # type: ignore[method-assign]
    return published


async def relay_everything(probe: Probe) -> None:
    while await probe.relay.relay_once():
        pass


async def test_an_event_written_after_waiting_on_a_lock_is_claimed_after_the_one_it_waited_for(
        probe: Probe) -> None:
    """A transaction that began first but writes its event last (it waited for the other's lock)
    publishes last. Due from the transaction's start, its row would sort first in the claim's
    order (next_attempt_at, id); due from its insert, it sorts after."""
    published = record_publishes(probe)
    async with probe.sessions() as waiting, waiting.begin():
        await waiting.execute(text("SELECT 1"))  # its transaction has begun: now() is fixed
        await asyncio.sleep(0.05)
        await probe.emit("written-first")  # commits while `waiting` is open
        await add_event(waiting, unit_event("written-second"))
    await relay_everything(probe)
    assert published == ["written-first", "written-second"]


async def test_a_row_committed_between_the_claims_begin_and_its_select_is_claimed(
        probe: Probe) -> None:
    """The claim's transaction begins (its own round trip) before the claim runs. A row inserted
    and committed in between is in the claim's snapshot; stamped due at its insert, it is later
    than that transaction's start (`now()`) — so the claim compares with its own statement's
    start, or it would leave the row for a later round."""
    async with pooled_driver(probe.relay.engine) as (_, raw), raw.transaction():
        await raw.execute("SELECT 1")  # the claim's transaction has begun
        await probe.emit("committed-in-between")
        claimed = await raw.fetch(probe.relay._claim, 500)
    assert [json.loads(row["body"])["data"]["unit_id"] for row in claimed] == [
        "committed-in-between"]


async def claim_pages(probe: Probe) -> int:
    """Shared buffers the relay's claim touches, its plan generic as a prepared statement's
    becomes; its row locks go with its transaction, so nothing stays claimed."""
    async with pooled_driver(probe.engine) as (_, raw), raw.transaction():
        await raw.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        claim = probe.relay._claim.replace("$1", "$1::int")
        await raw.execute(f"PREPARE km_claim(int) AS {claim}")
        try:
            plan = "\n".join(row[0] for row in await raw.fetch(
                "EXPLAIN (ANALYZE, BUFFERS) EXECUTE km_claim(500)"))
        finally:
            await raw.execute("DEALLOCATE km_claim")
    top = re.search(r"Buffers: shared ([^\n]+)", plan)
    assert top, plan
    return sum(int(count) for count in re.findall(r"(?:hit|read)=(\d+)", top[1]))


async def test_a_claim_reads_the_rows_it_takes_not_every_row_sent_before_it(probe: Probe) -> None:
    """Where no VACUUM has run since (autovacuum off, as on this machine, or between two runs),
    an updated row's entry stays in `ix_outbox_unsent`. Claimed in id order, PostgreSQL read
    every such entry and its row through a bitmap, on every claim, and the relay slowed with
    every event it had sent (docs/performance.md, fifteenth session)."""
    await probe.emit_many([f"sent-{i}" for i in range(3000)], per_transaction=100)
    await relay_everything(probe)
    assert await probe.unsent() == 0
    await claim_pages(probe)  # the first scan after the rows were sent marks their entries dead
    await probe.emit_many([f"due-{i}" for i in range(10)], per_transaction=10)

    pages = await claim_pages(probe)

    heap = await probe.pages("outbox")
    assert heap >= 100, heap  # 3,000 sent rows: enough for a scan through them to show
    # The rows it takes and the index's pages (≈ 25 here), not the sent rows' (≈ 270 in id order)
    assert pages * 5 < heap, f"a claim of 10 due rows touched {pages} pages of an outbox of {heap}"
    published = record_publishes(probe)
    await relay_everything(probe)
    assert published == [f"due-{i}" for i in range(10)]


@pytest.mark.parametrize(("service", "before"), [
    ("orders", "orders_0006"), ("inventory", "inventory_0008"), ("lifecycle", "lifecycle_0005")])
async def test_each_service_migrates_its_outbox_to_rows_due_from_their_insert(
        service: str, before: str) -> None:
    """The claim's order is the order events were written in only where a row is due from its
    insert: every service's outbox, migrated; and the downgrade puts v1's default back."""
    migrations = Path(importlib.import_module(f"services.{service}").__file__ or "").parent \
        / "migrations"
    default = ("SELECT column_default FROM information_schema.columns WHERE table_schema = $1 "
               "AND table_name = 'outbox' AND column_name = 'next_attempt_at'")
    async with throwaway_database(ADMIN_DATABASE_URL, "km_migration") as url:
        await upgrade_to_head_async(service, migrations, url)
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            migrated = await connection.fetchval(default, service)
            await asyncio.to_thread(command.downgrade,
                                    alembic_config(service, migrations, url), before)
            downgraded = await connection.fetchval(default, service)
        finally:
            await connection.close()
    assert (migrated, downgraded) == ("clock_timestamp()", "now()")
