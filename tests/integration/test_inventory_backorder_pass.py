"""Rule O3: a waiting order line takes stock in hand — even stock that arrived while the line
started to wait (services/inventory/backorders.py).

The race needs a delivery's transaction held open while the approval is applied, which no HTTP
request can do, so these tests drive inventory's own delivery and approval code (the functions
behind POST /v1/devices/bulk and the order-approved handler) on a database of their own: the
shared test systems' stock and waiting lines would take part in every pass.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.inventory.backorders import backorder_job, backorder_pass
from services.inventory.fulfilment import (
    on_order_approved,
    on_order_cancelled,
    register_numbers,
    register_sims,
)
from services.inventory.main import SPEC
from services.inventory.service import receive_many
from shared.db import transaction
from shared.events.catalogue import OrderCancelled, OrderLine
from shared.settings import InventorySettings
from tests.integration.test_inventory_helpers import (
    IT_USER,
    a_model,
    approved,
    delivery,
    iccid,
    msisdn,
    phone_line,
)


async def lines_and_devices(sessions: async_sessionmaker[AsyncSession], order_id: uuid.UUID
                            ) -> tuple[list[tuple[str, Any]], dict[str, str]]:
    async with sessions() as session:
        lines = (await session.execute(text(
            "SELECT state, device_id FROM inventory.fulfilment_lines WHERE order_id = :o "
            "ORDER BY line_no, item_no"), {"o": order_id})).all()
        devices = (await session.execute(text(
            "SELECT device_id, state FROM inventory.devices"))).all()
    return [(state, device) for state, device in lines], {str(d): s for d, s in devices}


async def reserved_events(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = await session.execute(text(
            "SELECT envelope FROM inventory.outbox "
            "WHERE routing_key = 'inventory.device-reserved.v1' ORDER BY id"))
        return [row[0]["data"] for row in rows]


async def line_waiting_beside_stock(sessions: async_sessionmaker[AsyncSession]
                                    ) -> tuple[uuid.UUID, str]:
    """Approve an order while a delivery of the model it needs is being committed: each misses
    the other, so the line waits with the device in stock. Returns the order and the device."""
    model_id = await a_model(sessions)
    order = approved(phone_line(model_id))
    async with transaction(sessions) as delivering:
        (row,) = await receive_many(delivering, actor=IT_USER, items=delivery(model_id),
                                    order_id=None, intake_exception="Stock purchase, 2026")
        # The delivery has looked for waiting lines (none yet) and is about to commit; the
        # approval now finds no stock (the delivery's device is not committed) and commits.
        async with transaction(sessions) as approving:
            await on_order_approved(approving, order)
    return order.order_id, str(row["device_id"])


async def test_o3_a_line_that_started_to_wait_as_stock_arrived_takes_it_in_the_pass(
        inventory_sessions: async_sessionmaker[AsyncSession]) -> None:
    sessions = inventory_sessions
    order_id, device_id = await line_waiting_beside_stock(sessions)
    lines, devices = await lines_and_devices(sessions, order_id)
    assert lines == [("waiting", None)] and devices[device_id] == "in-stock"  # the gap itself

    async with transaction(sessions) as session:
        assert await backorder_pass(session) == 1

    lines, devices = await lines_and_devices(sessions, order_id)
    assert [(state, str(device)) for state, device in lines] == [("reserved", device_id)]
    assert devices[device_id] == "reserved"
    (event,) = await reserved_events(sessions)
    assert (event["device_id"], event["order_id"], event["from_backorder"]) == (
        device_id, str(order_id), True)

    async with transaction(sessions) as session:  # nothing is left to fill: nothing changes
        assert await backorder_pass(session) == 0
    assert len(await reserved_events(sessions)) == 1


async def test_o3_one_backorder_pass_at_a_time_across_replicas(
        inventory_sessions: async_sessionmaker[AsyncSession]) -> None:
    sessions = inventory_sessions
    order_id, _ = await line_waiting_beside_stock(sessions)
    async with transaction(sessions) as first, transaction(sessions) as second:
        assert await backorder_pass(first) == 1
        assert await backorder_pass(second) is None  # the first still holds the pass
    lines, _ = await lines_and_devices(sessions, order_id)
    assert [state for state, _ in lines] == ["reserved"]


async def test_o3_a_subscription_line_takes_a_sim_and_number_that_arrived_as_it_started_to_wait(
        inventory_sessions: async_sessionmaker[AsyncSession]) -> None:
    sessions = inventory_sessions
    async with transaction(sessions) as session:  # numbers in hand, no SIM yet
        await register_numbers(session, actor="it-1", numbers=[msisdn()])
    order = approved(OrderLine(catalogue_item_id="sub-standard", kind="subscription"))
    async with transaction(sessions) as delivering:
        await register_sims(delivering, actor="it-1", iccids=[iccid()])
        async with transaction(sessions) as approving:
            await on_order_approved(approving, order)
    lines, _ = await lines_and_devices(sessions, order.order_id)
    assert lines == [("waiting", None)]  # the SIM arrived unseen

    async with transaction(sessions) as session:
        assert await backorder_pass(session) == 1
    async with sessions() as session:
        state, sim_state = (await session.execute(text(
            "SELECT l.state, s.state FROM inventory.fulfilment_lines l "
            "JOIN inventory.subscriptions u ON u.subscription_id = l.subscription_id "
            "JOIN inventory.sims s ON s.sim_id = u.sim_id WHERE l.order_id = :o"),
            {"o": order.order_id})).one()
    assert (state, sim_state) == ("reserved", "reserved")
    (event,) = await reserved_events(sessions)
    assert (event["kind"], event["from_backorder"]) == ("sim", True)


async def test_o3_a_pass_with_no_stock_leaves_the_line_waiting(
        inventory_sessions: async_sessionmaker[AsyncSession]) -> None:
    sessions = inventory_sessions
    order = approved(phone_line(await a_model(sessions)))
    async with transaction(sessions) as session:
        await on_order_approved(session, order)
    async with transaction(sessions) as session:
        assert await backorder_pass(session) == 0
    lines, _ = await lines_and_devices(sessions, order.order_id)
    assert lines == [("waiting", None)]
    assert await reserved_events(sessions) == []


@dataclass
class _Runtime:
    """What the job uses of a ServiceRuntime."""

    settings: InventorySettings
    sessions: async_sessionmaker[AsyncSession]


async def test_o3_the_scheduled_pass_fills_the_line(
        inventory_sessions: async_sessionmaker[AsyncSession]) -> None:
    sessions = inventory_sessions
    order_id, device_id = await line_waiting_beside_stock(sessions)
    runtime = _Runtime(InventorySettings(backorder_pass_seconds=0.05), sessions)
    job = asyncio.create_task(backorder_job(runtime))  # type: ignore[arg-type]
    try:
        for _ in range(200):
            lines, _ = await lines_and_devices(sessions, order_id)
            if lines[0][0] == "reserved":
                break
            await asyncio.sleep(0.05)
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
    assert [(state, str(device)) for state, device in lines] == [("reserved", device_id)]


def test_o3_the_pass_is_one_of_inventorys_scheduled_jobs() -> None:
    assert backorder_job in SPEC.background_jobs


async def test_o3_a_device_bought_for_another_order_is_taken_last(
        inventory_sessions: async_sessionmaker[AsyncSession]) -> None:
    """Stock bought for no order goes before a device bought for another order, even an older
    one: that order may still want it (a cancelled order's phone, back in stock, here)."""
    sessions = inventory_sessions
    model_id = await a_model(sessions)
    bought_for = approved(phone_line(model_id))
    async with transaction(sessions) as session:
        await on_order_approved(session, bought_for)
    async with transaction(sessions) as session:
        (for_it,) = await receive_many(session, actor=IT_USER, items=delivery(model_id),
                                       order_id=bought_for.order_id, intake_exception=None)
    async with transaction(sessions) as session:
        await on_order_cancelled(session, OrderCancelled(
            order_id=bought_for.order_id, cancelled_by="head-1", reason="Not needed"))
    async with transaction(sessions) as session:
        (anonymous,) = await receive_many(session, actor=IT_USER, items=delivery(model_id),
                                          order_id=None, intake_exception="Stock purchase, 2026")

    later = approved(phone_line(model_id))
    async with transaction(sessions) as session:
        await on_order_approved(session, later)
    lines, devices = await lines_and_devices(sessions, later.order_id)
    assert [(state, str(device)) for state, device in lines] == [
        ("reserved", str(anonymous["device_id"]))]
    assert devices[str(for_it["device_id"])] == "in-stock"
