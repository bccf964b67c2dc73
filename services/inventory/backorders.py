"""The backorder pass (rule O3): on a schedule, waiting order lines take what is in stock now.

Stock that arrives fills the waiting lines it can in its own transaction (`fill_backorders`), and
a line that starts to wait first searches the stock. But a line that starts to wait while a
delivery is committing is not seen by the delivery, nor the delivery by the line: each
transaction reads before the other commits, both commit, and the line would wait beside a device
in stock until the next delivery of a model it could take. A lock shared by both sides would
close that window, but a reservation holds its order's row when it finds no stock while a
delivery locks order rows after its lines — the two would deadlock. So this pass repairs it
instead, within `KM_INVENTORY_BACKORDER_PASS_SECONDS`, whatever else left a line waiting beside
stock. Never commits, except the background job, which is its own outermost wrapper.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.fulfilment import fill_backorders
from services.inventory.repository import (
    DeviceRepository,
    FulfilmentRepository,
    TelephonyRepository,
)
from shared.db import transaction, try_transaction_lock
from shared.runtime import ServiceRuntime, repeat_every
from shared.settings import InventorySettings

log = logging.getLogger(__name__)

_LOCK_KEY = "inventory:backorder-pass"


async def backorder_pass(session: AsyncSession) -> int | None:
    """Fill the waiting lines that stock in hand can fill, oldest first; returns how many, or
    None when another replica's pass is running right now."""
    if not await try_transaction_lock(session, _LOCK_KEY):
        return None
    if not await FulfilmentRepository(session).any_waiting():
        return 0  # the usual case: nothing to look for
    return await fill_backorders(
        session, models=await DeviceRepository(session).models_in_stock(),
        telephony=await TelephonyRepository(session).any_free_pair())


async def backorder_job(runtime: ServiceRuntime) -> None:
    """The scheduled pass (a ServiceSpec background job), the first at start-up."""
    settings = runtime.settings
    interval = (settings.backorder_pass_seconds if isinstance(settings, InventorySettings)
                else 60.0)

    async def once() -> None:
        async with transaction(runtime.sessions) as session:
            filled = await backorder_pass(session)
        if filled:
            log.info("backorder pass: %d waiting lines reserved from stock", filled)

    await repeat_every(interval, once, what="backorder pass", logger=log)
