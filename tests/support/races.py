"""Two transactions at once, in a fixed order: for the tests of races between handlers (competing
consumers) or between a request and a handler, which need one transaction held open while the
other runs — something no HTTP request or broker delivery can be made to do on cue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import transaction

Work = Callable[[AsyncSession], Awaitable[Any]]

# Long enough for the second transaction to reach the row the first holds (it then waits for the
# first's commit); the outcome asserted never depends on it — only whether the race is exercised.
SETTLE_SECONDS = 0.3


async def while_open(sessions: async_sessionmaker[AsyncSession], held: Work, meanwhile: Work
                     ) -> None:
    """Run `held` in a transaction kept open while `meanwhile` starts in a transaction of its
    own; then commit `held` and wait for `meanwhile` (whose exception, if any, propagates)."""
    async with transaction(sessions) as session:
        await held(session)
        other = asyncio.create_task(_alone(sessions, meanwhile))
        await asyncio.sleep(SETTLE_SECONDS)
    await other


async def _alone(sessions: async_sessionmaker[AsyncSession], work: Work) -> None:
    async with transaction(sessions) as session:
        await work(session)
