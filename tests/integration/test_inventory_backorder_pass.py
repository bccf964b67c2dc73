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
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.inventory.backorders import backorder_job, backorder_pass
from services.inventory.fulfilment import on_order_approved, register_numbers, register_sims
from services.inventory.schemas import DeviceItem, DeviceModelCreate
from services.inventory.service import create_model, receive_many
from shared.auth import User
from shared.db import transaction
from shared.events.catalogue import OrderLine
from shared.settings import InventorySettings
from tests.integration.test_inventory_helpers import (
    approved,
    iccid,
    imei,
    msisdn,
    phone_line,
    serial,
)

IT = User("it-1", frozenset({"it-service"}))


async def a_model(sessions: async_sessionmaker[AsyncSession]) -> str:
    model_id = f"m-{uuid.uuid4().hex[:10]}"
    async with transaction(sessions) as session:
        await create_model(session, actor=IT, data=DeviceModelCreate(
            model_id=model_id, manufacturer="Samsung", model="Galaxy XCover7", kind="phone",
            tier="robust", platform="android",
            security_updates_end=date.today() + timedelta(days=900), max_os_version="16"))
    return model_id


def delivery(model_id: str) -> list[DeviceItem]:
    return [DeviceItem(model_id=model_id, serial_number=serial(), imei=imei(), os_version="14")]


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
        (row,) = await receive_many(delivering, actor=IT, items=delivery(model_id),
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
