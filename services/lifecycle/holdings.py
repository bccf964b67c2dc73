"""Who holds what, from inventory's events, and what each change means for cases (rule U7).

Inventory's events about one device may arrive late or out of order: the holding keeps the
source time of the newest event applied and ignores older ones, but a late device-returned still
completes the case it belongs to. Never commits; locks device before person.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle import domain, losses, offboarding
from services.lifecycle.domain import ReturnDemand
from services.lifecycle.models import Holding
from services.lifecycle.private_use_repository import SubscriptionRepository
from services.lifecycle.repository import (
    HoldingRepository,
    LossRepository,
    ReturnCaseRepository,
    lock,
)
from shared.audit import record_audit
from shared.events.catalogue import (
    DeviceConsumed,
    DeviceIssued,
    DeviceLost,
    DeviceReturned,
    SubscriptionActivated,
    SubscriptionTerminated,
)

HOLDING_FIELDS = ("holder_person_id", "unit_id", "kind", "state")


def _snapshot(holding: Holding | None) -> dict[str, Any] | None:
    return None if holding is None else {f: getattr(holding, f) for f in HOLDING_FIELDS}


async def _lock_people(session: AsyncSession, *people: str | None) -> None:
    """After the device's lock: the people whose cases this event may open or close."""
    for person_id in sorted({p for p in people if p}):
        await lock(session, "person", person_id)


async def _set(session: AsyncSession, holding: Holding | None, device_id: Any, at: datetime,
               actor: str, **values: Any) -> Holding:
    """Create or update the holding from an event that is newer than what it shows."""
    before = _snapshot(holding)
    if holding is None:
        holding = Holding(device_id=device_id, event_time=at, **values)
        await HoldingRepository(session).add(holding)
    else:
        for name, value in values.items():
            setattr(holding, name, value)
        holding.event_time = at
        await session.flush()
    await record_audit(session, actor=actor, action=f"holding.{holding.state}",
                       object_type="device", object_id=str(device_id), before=before,
                       after=_snapshot(holding))
    return holding


async def apply_issued(session: AsyncSession, event: DeviceIssued, at: datetime, *,
                       timezone: str) -> None:
    holdings = HoldingRepository(session)
    await lock(session, "device", event.device_id)
    await _lock_people(session, event.holder_person_id)
    if event.replaces_device_id is not None:  # whatever came since: the loss was replaced
        await losses.replaced(session, event.replaces_device_id, event.device_id, at,
                              actor=event.issued_by)
    holding = await holdings.get(event.device_id)
    if holding is not None and at <= holding.event_time:
        return  # an earlier issue, arrived after something newer about this device
    holding = await _set(session, holding, event.device_id, at, event.issued_by,
                         holder_person_id=event.holder_person_id, unit_id=event.unit_id,
                         kind=event.kind, state="issued", issued_at=at)
    await losses.found(session, event.device_id, at, actor=event.issued_by)
    if holding.holder_person_id:
        await offboarding.demand_for_current_holder(session, holding, timezone=timezone)


async def apply_returned(session: AsyncSession, event: DeviceReturned, at: datetime, *,
                         timezone: str) -> None:
    holdings = HoldingRepository(session)
    await lock(session, "device", event.device_id)
    holding = await holdings.get(event.device_id)
    await _lock_people(session, event.from_person_id,
                       holding.holder_person_id if holding else None)
    # A return recorded before the device's current issue is about an earlier one.
    about_current_issue = holding is None or holding.issued_at is None \
        or at >= holding.issued_at
    if holding is None or at > holding.event_time:
        # The last holder stays on record: who had it is history the cases refer to.
        holder = event.from_person_id or (holding.holder_person_id if holding else None)
        holding = await _set(session, holding, event.device_id, at, event.received_by,
                             holder_person_id=holder, unit_id=event.unit_id,
                             kind=event.kind or (holding.kind if holding else None),
                             state="returned")
    case = await ReturnCaseRepository(session).open_for_device(event.device_id)
    if case is not None and domain.return_closes_case(
            case_person=case.person_id, case_id=case.case_id,
            returned_from=event.from_person_id, returned_case_id=event.return_case_id,
            returned_at=at, holder=holding.holder_person_id, issued_at=holding.issued_at):
        await offboarding.close_case(session, case, received_by=event.received_by,
                                     completed_at=at)
    if about_current_issue:
        await losses.found(session, event.device_id, at, actor=event.received_by)
    if holding.state == "issued" and holding.holder_person_id:
        # A late return closed an earlier holder's case: the current holder may owe one too.
        await offboarding.demand_for_current_holder(session, holding, timezone=timezone)


async def apply_lost(session: AsyncSession, event: DeviceLost, at: datetime) -> None:
    holdings = HoldingRepository(session)
    await lock(session, "device", event.device_id)
    holding = await holdings.get(event.device_id)
    await _lock_people(session, event.person_id, holding.holder_person_id if holding else None)
    if holding is None:
        await _set(session, None, event.device_id, at, "inventory",
                   holder_person_id=event.person_id, unit_id=event.unit_id, kind=None,
                   state="lost", issued_at=None)
    elif at > holding.event_time:
        await _set(session, holding, event.device_id, at, "inventory", state="lost")
    repo = LossRepository(session)
    loss = await repo.get(event.loss_id) if event.loss_id else None
    loss = loss if loss is not None and loss.status == "open" \
        else await repo.open_for_device(event.device_id)
    if loss is not None:
        await losses.record_inventory_action(session, loss, sim_blocked=event.sim_blocked,
                                             mdm_action=event.mdm_action)


async def apply_consumed(session: AsyncSession, event: DeviceConsumed, *,
                         hand_in_days: int) -> None:
    """rule C2: a consumed device someone holds is handed in to IT service."""
    holdings = HoldingRepository(session)
    await lock(session, "device", event.device_id)
    holding = await holdings.get(event.device_id)
    if holding is None or holding.state != "issued":
        return  # in stock or already back: inventory sends it to the supplier itself
    await _lock_people(session, holding.holder_person_id)
    demand = ReturnDemand("consumed", event.decided_on + timedelta(days=hand_in_days), None)
    await offboarding.ensure_case(session, holding, demand, actor="inventory")


async def apply_subscription(session: AsyncSession,
                             event: SubscriptionActivated | SubscriptionTerminated,
                             at: datetime) -> None:
    """Which subscription is on which phone, for private-use agreements (rule P1). The newest
    event per subscription wins; a terminated subscription's device and holder stay on record."""
    values: dict[str, Any] = {"subscription_id": event.subscription_id,
                              "holder_person_id": event.holder_person_id,
                              "unit_id": event.unit_id}
    if isinstance(event, SubscriptionActivated):
        values |= {"device_id": event.device_id, "state": "active"}
    else:
        values |= {"state": "terminated"}
    if await SubscriptionRepository(session).apply(values, at):
        await record_audit(session, actor="inventory", action=f"subscription.{values['state']}",
                           object_type="subscription", object_id=str(event.subscription_id),
                           after={k: str(v) if v is not None else None
                                  for k, v in values.items()})
