"""Two transactions at once, in a fixed order: for the tests of races between handlers (competing
consumers) or between a request and a handler, which need one transaction held open while the
other runs — something no HTTP request or broker delivery can be made to do on cue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import transaction

Work = Callable[[AsyncSession], Awaitable[Any]]


async def blocked_in(sessions: async_sessionmaker[AsyncSession], timeout: float = 30.0) -> None:
    """Until a transaction of this database waits for a lock another holds; fails if none does
    within `timeout` (the race the test is about did not happen). A new session each poll:
    PostgreSQL shows a transaction one snapshot of pg_stat_activity."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with sessions() as session:
            waiting = (await session.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"))).scalar_one()
        if waiting:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the second transaction never waited for the first")
        await asyncio.sleep(0.02)


async def while_open(sessions: async_sessionmaker[AsyncSession], held: Work, meanwhile: Work
                     ) -> None:
    """Run `held` in a transaction kept open while `meanwhile` runs in a transaction of its own
    until it waits for a lock `held` took; then commit `held` and wait for `meanwhile` (whose
    exception, if any, propagates)."""
    async with transaction(sessions) as session:
        await held(session)
        other = asyncio.create_task(_alone(sessions, meanwhile))
        try:
            await blocked_in(sessions)
        except BaseException:
            other.cancel()
            raise
    await other


async def _alone(sessions: async_sessionmaker[AsyncSession], work: Work) -> None:
    async with transaction(sessions) as session:
        await work(session)
