"""Two events about a unit inventory has not seen yet, applied at the same moment (competing
consumers): both commit, the newer one's fields stand, and neither spends a delivery attempt on a
primary-key failure (services/inventory/handlers.py: apply_unit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.inventory.handlers import apply_unit
from shared.events.catalogue import UnitChanged, UnitRegistered
from tests.support.races import while_open

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
    # Before ON CONFLICT, the second insert failed on the primary key: a failed delivery attempt.
    await while_open(sessions, lambda s: apply_unit(s, registered("Hemtjänst Nord"), AT),
                     lambda s: apply_unit(s, changed("Hemtjänst Norra"),
                                          AT + timedelta(minutes=1)))
    assert await unit_row(sessions) == ("Hemtjänst Norra", "41231", "head-2")


async def test_an_older_event_for_a_new_unit_applied_at_once_changes_nothing(
        inventory_sessions: async_sessionmaker[AsyncSession]) -> None:
    sessions = inventory_sessions
    await while_open(sessions, lambda s: apply_unit(s, changed("Hemtjänst Norra"),
                                                    AT + timedelta(minutes=1)),
                     lambda s: apply_unit(s, registered("Hemtjänst Nord"), AT))
    assert await unit_row(sessions) == ("Hemtjänst Norra", "41231", "head-2")
