"""Rule O2: an appointment of an orderer and the end of that person's employment, at the same
moment. Whichever commits first, the person ends up with no active appointment — unless the
appointment was made after HR reported the end (services/orders/orderers.py: `lapse`).

The race needs the appointment's transaction held open while the HR event is applied, which no
HTTP request can do, so these tests drive orders' own code (the function behind POST
/v1/units/{unit_id}/orderers and the employment-ended handler) on a database of their own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.orders.handlers import on_ended
from services.orders.orderers import appoint
from services.orders.read_models import apply_hired, apply_unit
from shared.auth import User
from shared.db import transaction
from shared.errors import RuleViolation
from shared.events.base import wrap
from shared.events.catalogue import EmployeeHired, EmploymentEnded, UnitRegistered
from tests.support.races import while_open

HEAD = User("head-1", frozenset({"employee"}))
EARLIER = datetime(2026, 1, 1, tzinfo=UTC)


async def a_unit_and_its_employee(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with transaction(sessions) as session:
        await apply_unit(session, UnitRegistered(
            unit_id="SOC-HT", name="Hemtjänst", administration="Socialförvaltningen",
            cost_centre="41230", head_person_id=HEAD.person_id), EARLIER)
        await apply_hired(session, EmployeeHired(
            person_id="emp-1", unit_id="SOC-HT", start_date=date(2025, 1, 1)), EARLIER)


def ended() -> EmploymentEnded:
    return EmploymentEnded(person_id="emp-1", unit_id="SOC-HT",
                           last_day=date.today() + timedelta(days=30))


async def end_now(session: AsyncSession) -> None:
    """The end as HR reports it now (the envelope's time): after an appointment under way."""
    event = ended()
    await on_ended(session, wrap(event), event)


async def appoint_emp_1(session: AsyncSession) -> None:
    await appoint(session, actor=HEAD, unit_id="SOC-HT", person_id="emp-1")


async def active_appointments(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int((await session.execute(text(
            "SELECT count(*) FROM orders.orderers WHERE person_id = 'emp-1' AND active"
        ))).scalar_one())


async def test_o2_an_end_applied_while_the_appointment_commits_still_revokes_it(
        orders_sessions: async_sessionmaker[AsyncSession]) -> None:
    sessions = orders_sessions
    await a_unit_and_its_employee(sessions)
    await while_open(sessions, appoint_emp_1, end_now)
    assert await active_appointments(sessions) == 0


async def test_o2_an_appointment_made_while_the_end_commits_is_refused(
        orders_sessions: async_sessionmaker[AsyncSession]) -> None:
    sessions = orders_sessions
    await a_unit_and_its_employee(sessions)
    with pytest.raises(RuleViolation, match="O2"):
        await while_open(sessions, end_now, appoint_emp_1)
    assert await active_appointments(sessions) == 0
