"""The inbox is pruned: rows older than the retention go, the rest still make redeliveries no-ops.

Against real PostgreSQL, on the in-process transport (the inbox does not depend on the broker).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from shared.events.base import encode, wrap
from shared.messaging.consumer import prune_inbox
from shared.messaging.transport import ACKED, Delivery
from shared.settings import SERVICE_NAMES, service_settings
from tests.harness import Probe, start_probe, unit_event
from tests.system import RunningSystem


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
            f'UPDATE "{probe.name}".inbox SET processed_at = now() - make_interval(days => :d) '
            "WHERE event_id = :e"), {"d": days, "e": event_id})


async def inbox(probe: Probe) -> set[tuple[str, str]]:
    async with probe.engine.connect() as connection:
        return {tuple(row) for row in (await connection.execute(text(  # type: ignore[misc]
            f'SELECT consumer, event_id FROM "{probe.name}".inbox'))).all()}


async def test_rows_older_than_the_retention_are_pruned_in_batches_the_rest_kept(
        probe: Probe) -> None:
    keys = {"old-1", "old-2", "old-3", "inside", "fresh"}
    for key in sorted(keys):
        await probe.emit(key)
    ids = await applied(probe, keys)
    for key in ("old-1", "old-2", "old-3"):
        await age(probe, ids[key], 30.01)
    await age(probe, ids["inside"], 29.99)
    async with probe.engine.begin() as connection:  # another consumer's row in the same schema
        await connection.execute(text(
            f'INSERT INTO "{probe.name}".inbox (consumer, event_id, routing_key, processed_at) '
            "VALUES ('another', 'e-another', 'x', now() - interval '90 days')"))

    pruned = await prune_inbox(probe.consumer.sessions, probe.consumer.name, 30.0, batch=2)

    assert pruned == 3
    assert await inbox(probe) == {(probe.consumer.name, ids["inside"]),
                                  (probe.consumer.name, ids["fresh"]), ("another", "e-another")}
    assert await prune_inbox(probe.consumer.sessions, probe.consumer.name, 30.0) == 0


async def test_a_redelivery_inside_the_retention_is_a_no_op_after_a_prune(probe: Probe) -> None:
    """What the retention trades: a row inside it still dedupes; a row pruned does not — which is
    why it is kept far longer than any redelivery comes (shared/messaging/consumer.py)."""
    await probe.emit("kept")
    await probe.emit("pruned")
    ids = await applied(probe, {"kept", "pruned"})
    await age(probe, ids["kept"], 29.0)
    await age(probe, ids["pruned"], 31.0)
    assert await prune_inbox(probe.consumer.sessions, probe.consumer.name, 30.0) == 1

    for key in ("kept", "pruned"):
        again = wrap(unit_event(key)).model_copy(update={"id": ids[key]})  # the event applied
        outcomes = await probe.consumer.process_batch([Delivery(
            body=encode(again), routing_key=again.routing_key, message_id=again.id, headers={},
            attempt=1)])
        assert outcomes == [ACKED]

    assert await probe.effects() == {"kept": 1, "pruned": 2}


def test_every_service_keeps_its_inbox_for_30_days_by_default() -> None:
    assert {name: service_settings(name).inbox_retention_days for name in SERVICE_NAMES} == \
        dict.fromkeys(SERVICE_NAMES, 30.0)


async def test_every_service_runs_the_inbox_prune(system_inprocess: RunningSystem) -> None:
    for name, app in system_inprocess.apps.items():
        jobs = {task.get_name(): task for task in app.state.runtime.tasks}
        assert f"{name} inbox prune" in jobs
        assert not jobs[f"{name} inbox prune"].done()
