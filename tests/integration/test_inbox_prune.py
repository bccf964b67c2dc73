"""The inbox is pruned: rows older than the retention go, the rest still make redeliveries no-ops.

Against real PostgreSQL, on the in-process transport (the inbox does not depend on the broker).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from shared.events.base import encode, wrap
from shared.messaging.consumer import prune_inbox
from shared.messaging.transport import ACKED, Delivery
from shared.runtime import inbox_prune_job
from tests.harness import Probe, start_probe, unit_event
from tests.system import RunningSystem, eventually


@pytest.fixture
async def probe(database_url: str) -> AsyncIterator[Probe]:
    probe = await start_probe(database_url, "inprocess")
    yield probe
    await probe.stop()


async def applied(probe: Probe, keys: set[str]) -> dict[str, str]:
    """key -> event id of each event applied."""
    await probe.wait_for_effects(keys)
    async with probe.engine.connect() as connection:
        rows = (await connection.execute(text(
            f'SELECT key, event_id FROM "{probe.name}".effects'))).all()
    return {key: event_id for key, event_id in rows}


async def age(probe: Probe, event_id: str, days: float) -> None:
    async with probe.engine.begin() as connection:
        await connection.execute(text(
            f'UPDATE "{probe.name}".inbox SET processed_at = now() - make_interval(secs => :s) '
            "WHERE event_id = :e"), {"s": days * 86_400.0, "e": event_id})


async def inbox(probe: Probe) -> set[tuple[str, str]]:
    async with probe.engine.connect() as connection:
        return {tuple(row) for row in (await connection.execute(text(  # type: ignore[misc]
            f'SELECT consumer, event_id FROM "{probe.name}".inbox'))).all()}


async def old_rows(probe: Probe, consumer: str, count: int, days: float) -> None:
    async with probe.engine.begin() as connection:
        await connection.execute(text(
            f'INSERT INTO "{probe.name}".inbox (consumer, event_id, routing_key, processed_at) '
            "SELECT :c, 'old-' || i, 'x', now() - make_interval(days => :d) "
            "FROM generate_series(1, :n) AS i"), {"c": consumer, "d": days, "n": count})


async def test_rows_older_than_the_retention_are_pruned_page_range_by_range_the_rest_kept(
        probe: Probe) -> None:
    keys = {"old", "inside", "fresh"}
    for key in sorted(keys):
        await probe.emit(key)
    ids = await applied(probe, keys)
    await age(probe, ids["old"], 90.01)
    await age(probe, ids["inside"], 89.99)
    await old_rows(probe, probe.consumer.name, 600, 120)  # several pages of them
    await old_rows(probe, "another", 1, 365)  # another consumer's row in the same schema
    assert await probe.pages("inbox") >= 4

    pruned = await prune_inbox(probe.consumer.sessions, probe.consumer.name, 90.0,
                               pages_per_batch=1)

    assert pruned == 601
    assert await inbox(probe) == {(probe.consumer.name, ids["inside"]),
                                  (probe.consumer.name, ids["fresh"]), ("another", "old-1")}
    assert await prune_inbox(probe.consumer.sessions, probe.consumer.name, 90.0) == 0


async def test_the_services_job_prunes_the_inbox(probe: Probe) -> None:
    await old_rows(probe, probe.consumer.name, 3, 91)
    runtime = SimpleNamespace(consumer=probe.consumer, spec=SimpleNamespace(name="probe"),
                              settings=SimpleNamespace(inbox_retention_days=90.0))
    job = asyncio.create_task(inbox_prune_job(runtime))  # type: ignore[arg-type]
    try:
        left = await eventually(lambda: inbox(probe), lambda rows: not rows, timeout=10)
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
    assert left == set()


async def test_a_redelivery_inside_the_retention_is_a_no_op_after_a_prune(probe: Probe) -> None:
    """What the retention trades: a row inside it still dedupes; a row pruned does not — which is
    why it is kept longer than any redelivery or replay can come (shared/settings.py:
    check_inbox_retention)."""
    await probe.emit("kept")
    await probe.emit("pruned")
    ids = await applied(probe, {"kept", "pruned"})
    await age(probe, ids["kept"], 89.0)
    await age(probe, ids["pruned"], 91.0)
    assert await prune_inbox(probe.consumer.sessions, probe.consumer.name, 90.0) == 1

    for key in ("kept", "pruned"):
        again = wrap(unit_event(key)).model_copy(update={"id": ids[key]})  # the event applied
        outcomes = await probe.consumer.process_batch([Delivery(
            body=encode(again), routing_key=again.routing_key, message_id=again.id, headers={},
            attempt=1)])
        assert outcomes == [ACKED]

    assert await probe.effects() == {"kept": 1, "pruned": 2}


async def test_every_service_runs_the_inbox_prune(system_inprocess: RunningSystem) -> None:
    for name, app in system_inprocess.apps.items():
        jobs = {task.get_name(): task for task in app.state.runtime.tasks}
        assert f"{name} inbox prune" in jobs
        assert not jobs[f"{name} inbox prune"].done()
