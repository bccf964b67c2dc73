"""Events the inventory service consumes: approved and cancelled orders (rule O3), losses (U9),
return requests (U7), the organisation (whose unit a head sees), the employees (whose manager
sees whose telephony readiness, U1), private-use agreements (who pays private extras, P2) and
the guideline's policy (which costs are private, P2; the support channels, S1)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import costs, fulfilment, issuing, losses, policy, readiness
from services.inventory.models import Unit
from services.inventory.repository import UnitRepository
from shared.events.base import Envelope, Event
from shared.events.catalogue import (
    EmployeeHired,
    EmployeeTransferred,
    EmploymentEnded,
    LossReported,
    OrderApproved,
    OrderCancelled,
    PolicyChanged,
    PrivateUseApproved,
    PrivateUseEnded,
    ReturnRequested,
    UnitChanged,
    UnitRegistered,
)
from shared.messaging.consumer import Handler


async def on_order_approved(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, OrderApproved)
    await fulfilment.on_order_approved(session, event)


async def on_order_cancelled(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, OrderCancelled)
    await fulfilment.on_order_cancelled(session, event)


async def on_loss_reported(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, LossReported)
    await losses.on_loss_reported(session, event)


async def on_return_requested(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, ReturnRequested)
    await issuing.on_return_requested(session, event)


async def on_unit(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, UnitRegistered)  # UnitChanged subclasses it
    await apply_unit(session, event, envelope.time)


async def apply_unit(session: AsyncSession, event: UnitRegistered, event_time: datetime) -> None:
    """Upsert the unit; an older or repeated event changes nothing."""
    units = UnitRepository(session)
    if await units.insert_new(Unit(
            unit_id=event.unit_id, name=event.name, parent_unit_id=event.parent_unit_id,
            cost_centre=event.cost_centre, head_person_id=event.head_person_id,
            source_event_time=event_time)):
        return
    unit = await units.get(event.unit_id, for_update=True)
    assert unit is not None  # inserted by this transaction or another one that committed
    if event_time <= unit.source_event_time:
        return
    unit.name, unit.parent_unit_id, unit.cost_centre = (event.name, event.parent_unit_id,
                                                        event.cost_centre)
    unit.head_person_id, unit.source_event_time = event.head_person_id, event_time


async def on_private_use_approved(session: AsyncSession, envelope: Envelope, event: Event
                                  ) -> None:
    assert isinstance(event, PrivateUseApproved)
    await costs.on_private_use_approved(session, event)


async def on_private_use_ended(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, PrivateUseEnded)
    await costs.on_private_use_ended(session, event, envelope.time)


async def on_employee_hired(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, EmployeeHired)
    await readiness.on_employee_hired(session, event, envelope.time)


async def on_employee_transferred(session: AsyncSession, envelope: Envelope, event: Event
                                  ) -> None:
    assert isinstance(event, EmployeeTransferred)
    await readiness.on_employee_transferred(session, event, envelope.time)


async def on_employment_ended(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, EmploymentEnded)
    await readiness.on_employment_ended(session, event, envelope.time)


async def on_policy_changed(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, PolicyChanged)
    await policy.on_policy_changed(session, event, envelope.time)  # rules B5, P2, S1


HANDLERS: Mapping[type[Event], Handler] = {
    OrderApproved: on_order_approved,
    OrderCancelled: on_order_cancelled,
    LossReported: on_loss_reported,
    ReturnRequested: on_return_requested,
    UnitRegistered: on_unit,
    UnitChanged: on_unit,
    PrivateUseApproved: on_private_use_approved,
    PrivateUseEnded: on_private_use_ended,
    EmployeeHired: on_employee_hired,
    EmployeeTransferred: on_employee_transferred,
    EmploymentEnded: on_employment_ended,
    PolicyChanged: on_policy_changed,
}
