"""An order's approval and its cancellation applied at the same moment (competing consumers):
whichever commits first, nothing stays reserved for the cancelled order
(services/inventory/fulfilment.py: on_order_cancelled; a tombstone for a cancellation that
overtakes its approval).

The race needs the approval's transaction held open while the cancellation is applied, so these
tests drive inventory's handlers on a database of their own.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.inventory.fulfilment import on_order_approved, on_order_cancelled
from services.inventory.service import receive_many
from shared.db import transaction
from shared.events.catalogue import OrderApproved, OrderCancelled
from tests.integration.test_inventory_helpers import (
    IT_USER,
    a_model,
    approved,
    delivery,
    phone_line,
)
from tests.support.races import while_open


async def in_stock_phone(sessions: async_sessionmaker[AsyncSession]) -> tuple[str, str]:
    model_id = await a_model(sessions)
    async with transaction(sessions) as session:
        (row,) = await receive_many(session, actor=IT_USER, items=delivery(model_id),
                                    order_id=None, intake_exception="Stock purchase, 2026")
    return model_id, str(row["device_id"])


def cancelled(order: OrderApproved) -> OrderCancelled:
    return OrderCancelled(order_id=order.order_id, unit_id=order.unit_id, cancelled_by="head-1",
                          reason="No longer needed")


async def states(sessions: async_sessionmaker[AsyncSession], order: OrderApproved,
                 device_id: str) -> tuple[str, list[str], str]:
    async with sessions() as session:
        order_state = (await session.execute(text(
            "SELECT state FROM inventory.fulfilment_orders WHERE order_id = :o"),
            {"o": order.order_id})).scalar_one()
        lines = (await session.execute(text(
            "SELECT state FROM inventory.fulfilment_lines WHERE order_id = :o"),
            {"o": order.order_id})).scalars().all()
        device = (await session.execute(text(
            "SELECT state FROM inventory.devices WHERE device_id = :d"),
            {"d": device_id})).scalar_one()
    return order_state, list(lines), device


async def test_o3_a_cancellation_applied_while_the_approval_commits_releases_what_it_reserved(
        inventory_sessions: async_sessionmaker[AsyncSession]) -> None:
    sessions = inventory_sessions
    model_id, device_id = await in_stock_phone(sessions)
    order = approved(phone_line(model_id))
    await while_open(sessions, lambda s: on_order_approved(s, order),  # reserves the phone
                     lambda s: on_order_cancelled(s, cancelled(order)))
    assert await states(sessions, order, device_id) == ("cancelled", ["released"], "in-stock")


async def test_o3_an_approval_applied_while_the_cancellation_commits_reserves_nothing(
        inventory_sessions: async_sessionmaker[AsyncSession]) -> None:
    sessions = inventory_sessions
    model_id, device_id = await in_stock_phone(sessions)
    order = approved(phone_line(model_id))
    await while_open(sessions, lambda s: on_order_cancelled(s, cancelled(order)),
                     lambda s: on_order_approved(s, order))
    assert await states(sessions, order, device_id) == ("cancelled", [], "in-stock")
