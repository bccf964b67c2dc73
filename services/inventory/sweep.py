"""The consumed sweep (rules C1, C2): on a schedule, from the IT-service endpoint and from the
CLI. The work is one set-based statement (repository/sweep.py); this module only decides when and
as whom it runs. Never commits, except the background job, which is its own outermost wrapper.
"""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.records import today
from services.inventory.repository import SweepRepository, SweepResult
from shared.audit import record_audit
from shared.db import transaction
from shared.runtime import ServiceRuntime, repeat_every
from shared.settings import InventorySettings

log = logging.getLogger(__name__)


async def run_sweep(session: AsyncSession, *, actor: str, wait: bool = True,
                    on: date | None = None) -> SweepResult:
    """Mark every device of a consumed model consumed and publish device-consumed once each.

    `wait=False` (the scheduled job) skips the run when another replica is sweeping right now.
    """
    repo = SweepRepository(session)
    if not await repo.lock(wait=wait):
        return SweepResult(0, 0, skipped=True)
    result = await repo.consume(today=on or today(), actor=actor)
    if result.consumed:
        await record_audit(session, actor=actor, action="sweep.consumed", object_type="sweep",
                           object_id=(on or today()).isoformat(),
                           after={"security_updates_ended": result.security_updates_ended,
                                  "required_app_unsupported": result.required_app_unsupported})
    return result


async def sweep_job(runtime: ServiceRuntime) -> None:
    """The scheduled sweep (a ServiceSpec background job), every
    KM_INVENTORY_CONSUMED_SWEEP_SECONDS."""
    settings = runtime.settings
    interval = (settings.consumed_sweep_seconds if isinstance(settings, InventorySettings)
                else 3600.0)

    async def once() -> None:
        async with transaction(runtime.sessions) as session:
            result = await run_sweep(session, actor="inventory-sweep", wait=False)
        if result.consumed:
            log.info("consumed sweep: %d devices consumed (%d security updates ended, %d "
                     "required app unsupported)", result.consumed,
                     result.security_updates_ended, result.required_app_unsupported)

    await repeat_every(interval, once, what="consumed sweep", logger=log)
