"""Two events about a unit inventory has not seen yet, applied at the same moment (competing
consumers): both commit, the newer one's fields stand, and neither spends a delivery attempt on a
primary-key failure (services/inventory/handlers.py: apply_unit)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.inventory.handlers import apply_unit
from shared.db import transaction
from shared.events.catalogue import UnitChanged, UnitRegistered

AT = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def registered(name: str) -> UnitRegistered:
    return UnitRegistered(unit_id="SOC-NEW", name=name, administration="Socialförvaltningen",
                          cost_centre="41230", head_person_id="head-1")


def changed(name: str) -> UnitChanged:
    return UnitChanged(unit_id="SOC-NEW", name=name, administration="Socialförvaltningen",
                       cost_centre="41231", head_person_id="head-2")


async def unit_row(sessions: async_sessionmaker[AsyncSession]) -> tuple[str, str, str]:
    async with sessions() as session:
        row = (await session.execute(text(
            "SELECT name, cost_centre, head_person_id FROM inventory.units "
            "WHERE unit_id = 'SOC-NEW'"))).one()
    return row[0], row[1], row[2]


async def test_a_newer_event_for_a_new_unit_waits_for_the_first_insert_and_wins(
        inventory_sessions: async_sessionmaker[AsyncSession]) -> None:
    sessions = inventory_sessions
    async with transaction(sessions) as first:
        await apply_unit(first, registered("Hemtjänst Nord"), AT)
        # The second transaction's insert waits for the first's uncommitted row.
        second = asyncio.create_task(_apply_alone(sessions, changed("Hemtjänst Norra"),
                                                  AT + timedelta(minutes=1)))
        await asyncio.sleep(0.3)
        assert not second.done()
    await second  # raised IntegrityError before ON CONFLICT: a failed delivery attempt
    assert await unit_row(sessions) == ("Hemtjänst Norra", "41231", "head-2")


async def test_an_older_event_for_a_new_unit_applied_at_once_changes_nothing(
        inventory_sessions: async_sessionmaker[AsyncSession]) -> None:
    sessions = inventory_sessions
    async with transaction(sessions) as first:
        await apply_unit(first, changed("Hemtjänst Norra"), AT + timedelta(minutes=1))
        older = asyncio.create_task(_apply_alone(sessions, registered("Hemtjänst Nord"), AT))
        await asyncio.sleep(0.3)
    await older
    assert await unit_row(sessions) == ("Hemtjänst Norra", "41231", "head-2")


async def _apply_alone(sessions: async_sessionmaker[AsyncSession], event: UnitRegistered,
                       at: datetime) -> None:
    async with transaction(sessions) as session:
        await apply_unit(session, event, at)
