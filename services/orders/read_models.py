"""Orders' read models of other services' facts, applied from their events. Never commits.

Every projection keeps the event time of what it holds and applies only newer events, so a
redelivered event (another id, same fact) or one that overtook a newer one changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.read_model_repository import (
    HeldDeviceRepository,
    KnownUnitRepository,
    PeopleRepository,
)
from shared.events.catalogue import (
    DeviceIssued,
    DeviceLost,
    DeviceReceived,
    DeviceReturned,
    EmployeeHired,
    EmployeeTransferred,
    EmploymentEnded,
    UnitRegistered,
)


async def apply_unit(session: AsyncSession, event: UnitRegistered, event_time: datetime) -> None:
    """unit-registered / unit-changed: cost centre (O2), head (O2, O3) and parent (O3)."""
    await KnownUnitRepository(session).upsert({
        "unit_id": event.unit_id, "name": event.name, "cost_centre": event.cost_centre,
        "head_person_id": event.head_person_id, "administration": event.administration,
        "parent_unit_id": event.parent_unit_id,
    }, event_time)


async def apply_hired(session: AsyncSession, event: EmployeeHired, event_time: datetime) -> None:
    await PeopleRepository(session).upsert(event.person_id, event.unit_id, True, event_time)


async def apply_transferred(session: AsyncSession, event: EmployeeTransferred,
                            event_time: datetime) -> None:
    """The person belongs to the new unit from the moment HR reports the move: devices go back
    on a move (rule U7), so the old unit ordering for them would be returned at once."""
    await PeopleRepository(session).upsert(event.person_id, event.to_unit_id, True, event_time)


async def apply_ended(session: AsyncSession, event: EmploymentEnded,
                      event_time: datetime) -> None:
    """From the announcement on, nothing new is ordered for the person (rule U7)."""
    await PeopleRepository(session).upsert(event.person_id, event.unit_id, False, event_time)


async def apply_received(session: AsyncSession, event: DeviceReceived) -> None:
    await HeldDeviceRepository(session).learn_kind(event.device_id, event.kind)


async def apply_issued(session: AsyncSession, event: DeviceIssued, event_time: datetime) -> None:
    await HeldDeviceRepository(session).set_holding(
        event.device_id, held=True, person_id=event.holder_person_id, unit_id=event.unit_id,
        kind=event.kind, event_time=event_time)


async def apply_returned(session: AsyncSession, event: DeviceReturned,
                         event_time: datetime) -> None:
    await HeldDeviceRepository(session).set_holding(
        event.device_id, held=False, person_id=event.from_person_id, unit_id=event.unit_id,
        kind=event.kind, event_time=event_time)


async def apply_lost(session: AsyncSession, event: DeviceLost, event_time: datetime) -> None:
    """A lost device is in nobody's hands: a SIM for the holder needs a new device (U5)."""
    await HeldDeviceRepository(session).set_holding(
        event.device_id, held=False, person_id=event.person_id, unit_id=None, kind=None,
        event_time=event_time)
