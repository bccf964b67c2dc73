"""Background jobs of the lifecycle service: the overdue sweep (rule U7).

Every replica runs the sweep; the (case, level) key of an escalation makes overlapping runs
harmless, and a try-lock lets only one replica do the work at a time.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.lifecycle import offboarding
from services.lifecycle.repository import try_lock
from shared.db import transaction
from shared.runtime import ServiceRuntime, repeat_every
from shared.settings import LifecycleSettings

log = logging.getLogger(__name__)
SWEEP_ACTOR = "system:overdue-sweep"


def today_in(timezone: str) -> date:
    """Due dates are calendar days in the municipality."""
    return datetime.now(ZoneInfo(timezone)).date()


async def sweep_once(runtime: ServiceRuntime) -> int | None:
    """One sweep as of today; None when another replica is sweeping right now."""
    settings = runtime.settings
    assert isinstance(settings, LifecycleSettings)
    async with transaction(runtime.sessions) as session:
        if not await try_lock(session, "overdue-sweep"):
            return None
        done = await offboarding.escalate_overdue(
            session, as_of=today_in(settings.timezone), actor=SWEEP_ACTOR)
    return len(done)


async def overdue_sweep(runtime: ServiceRuntime) -> None:
    """Sweep every `overdue_sweep_seconds` until the service stops."""
    settings = runtime.settings
    assert isinstance(settings, LifecycleSettings)

    async def once() -> None:
        escalated = await sweep_once(runtime)
        if escalated:
            log.info("overdue sweep escalated %d return cases", escalated)

    await repeat_every(settings.overdue_sweep_seconds, once, what="overdue sweep", logger=log)
