"""Events the orders service consumes: the organisation and its people from lifecycle, who holds
which device and what was issued against an order from inventory.

Each handler runs inside the consumer's inbox transaction (the event id is applied once) and is
also safe against the same fact arriving again under another id, or out of order.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import orderers, policy, read_models, service
from shared.events.base import Envelope, Event
from shared.events.catalogue import (
    DeviceIssued,
    DeviceLost,
    DeviceReceived,
    DeviceReturned,
    EmployeeHired,
    EmployeeTransferred,
    EmploymentEnded,
    PolicyChanged,
    UnitChanged,
    UnitRegistered,
)
from shared.messaging.consumer import Handler


async def on_unit(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, UnitRegistered)  # UnitChanged subclasses it
    await read_models.apply_unit(session, event, envelope.time)


async def on_hired(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, EmployeeHired)
    await read_models.apply_hired(session, event, envelope.time)


async def on_transferred(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, EmployeeTransferred)
    await read_models.apply_transferred(session, event, envelope.time)
    await orderers.lapse(session, person_id=event.person_id, left_unit_id=event.from_unit_id,
                         reported_at=envelope.time)  # rule O2


async def on_ended(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, EmploymentEnded)
    await read_models.apply_ended(session, event, envelope.time)
    await orderers.lapse(session, person_id=event.person_id, left_unit_id=None,
                         reported_at=envelope.time)  # rule O2


async def on_received(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, DeviceReceived)
    await read_models.apply_received(session, event)


async def on_issued(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, DeviceIssued)
    await read_models.apply_issued(session, event, envelope.time)
    if event.order_id is not None:
        await service.record_delivery(session, order_id=event.order_id,
                                      device_id=event.device_id, issued_by=event.issued_by,
                                      issued_at=envelope.time,
                                      subscription_ids=event.subscription_ids)


async def on_returned(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, DeviceReturned)
    await read_models.apply_returned(session, event, envelope.time)


async def on_lost(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, DeviceLost)
    await read_models.apply_lost(session, event, envelope.time)


async def on_policy_changed(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, PolicyChanged)
    await policy.apply_policy_changed(session, event, envelope.time)  # rule B5


HANDLERS: Mapping[type[Event], Handler] = {
    UnitRegistered: on_unit, UnitChanged: on_unit,
    EmployeeHired: on_hired, EmployeeTransferred: on_transferred, EmploymentEnded: on_ended,
    DeviceReceived: on_received, DeviceIssued: on_issued, DeviceReturned: on_returned,
    DeviceLost: on_lost, PolicyChanged: on_policy_changed,
}
