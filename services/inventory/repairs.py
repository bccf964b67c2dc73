"""Repair of a held device (rule S4): intake after the holder confirmed the data-loss warning,
then back to the same holder, or a replacement (rule U8: the old device is returned and the
replacement issued anew). Uses the register's state machine and history (issuing.py). Never
commits.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain, domain_support, issuing
from services.inventory.fulfilment import activated_event
from services.inventory.models import Device
from services.inventory.models_people import Repair
from services.inventory.records import audit_device, snapshot, touch
from services.inventory.repository import RepairRepository, SupportRepository, TelephonyRepository
from services.inventory.schemas import AcknowledgementIn, IssueIn
from services.inventory.support_schemas import RepairIntakeIn
from shared.audit import record_audit
from shared.errors import Conflict, NotFound, RuleViolation
from shared.events.catalogue import DeviceReturned, RepairCompleted, RepairStarted
from shared.messaging.outbox import add_event


async def intake(session: AsyncSession, *, actor: str, data: RepairIntakeIn) -> Repair:
    device = await issuing.locked_device(session, data.device_id)
    if device.state != "issued":
        raise Conflict(f"Device {data.device_id} is {device.state}: repair intake is for a "
                       "device someone holds; one nobody holds goes to repair with "
                       f"POST /v1/devices/{data.device_id}/repair")
    holder = domain.Holder(device.holder_person_id, device.holder_unit_id)
    warning = data.warning
    domain_support.check_repair_warning(holder, person_id=warning.person_id,
                                        confirmed=warning.confirmed,
                                        text_sha256=warning.text_sha256)
    if data.case_id is not None and await SupportRepository(session).case(data.case_id) is None:
        raise NotFound(f"Support case {data.case_id} does not exist")
    repair = Repair(
        repair_id=uuid.uuid4(), device_id=device.device_id, case_id=data.case_id,
        fault=data.fault, holder_person_id=holder.person_id, holder_unit_id=holder.unit_id,
        unit_id=device.unit_id, warning_version=domain_support.WARNING_VERSION,
        warning_sha256=warning.text_sha256, warning_confirmed_by=warning.person_id,
        warning_confirmed_at=warning.confirmed_at or datetime.now(UTC), state="in-repair",
        opened_by=actor, opened_at=datetime.now(UTC))
    await SupportRepository(session).add(repair)
    # The holder keeps the device's link while it is away (HOLDING_STATES).
    await issuing.move(session, device, "send-to-repair", actor,
                       repair_id=str(repair.repair_id),
                       warning_confirmed_by=warning.person_id,
                       warning_confirmed_at=repair.warning_confirmed_at.isoformat())
    await add_event(session, RepairStarted(
        repair_id=repair.repair_id, device_id=device.device_id,
        holder_person_id=holder.person_id, holder_unit_id=holder.unit_id,
        unit_id=device.unit_id, warning_confirmed_by=warning.person_id,
        warning_confirmed_at=repair.warning_confirmed_at, case_id=data.case_id),
        subject=str(device.device_id))
    return repair


async def _open_repair(session: AsyncSession, repair_id: uuid.UUID) -> tuple[Repair, Device]:
    repairs = RepairRepository(session)
    found = await repairs.get(repair_id)
    if found is None:
        raise NotFound(f"Repair {repair_id} does not exist")
    # The device's lock first, then the repair's: a loss and the consumed sweep close an open
    # repair in that order too (issuing.py, repository/sweep.py), so neither can deadlock this.
    device = await issuing.locked_device(session, found.device_id)
    repair = await repairs.get(repair_id, for_update=True) or found  # never deleted
    if repair.state != "in-repair":
        raise Conflict(f"Repair {repair_id} is finished ({repair.state})")
    if device.state != "in-repair":
        raise Conflict(f"Device {device.device_id} is {device.state}, no longer in repair")
    return repair, device


def _issue_to_holder(repair: Repair, acknowledgement: AcknowledgementIn) -> IssueIn:
    return IssueIn(holder_person_id=repair.holder_person_id,
                   holder_unit_id=repair.holder_unit_id,
                   unit_id=None if repair.holder_unit_id else repair.unit_id,
                   acknowledgement=acknowledgement)


async def _finish(session: AsyncSession, repair: Repair, *, actor: str, outcome: str,
                  replacement: uuid.UUID | None = None) -> None:
    repair.state, repair.replacement_device_id = outcome, replacement
    repair.closed_by, repair.closed_at = actor, datetime.now(UTC)
    await record_audit(session, actor=actor, action=f"repair.{outcome}", object_type="repair",
                       object_id=str(repair.repair_id), before={"state": "in-repair"},
                       after={"state": outcome, "replacement_device_id":
                              str(replacement) if replacement else None})
    await add_event(session, RepairCompleted(
        repair_id=repair.repair_id, device_id=repair.device_id, outcome=outcome,  # type: ignore[arg-type]
        holder_person_id=repair.holder_person_id, holder_unit_id=repair.holder_unit_id,
        replacement_device_id=replacement, completed_by=actor), subject=str(repair.device_id))


async def return_to_holder(session: AsyncSession, *, actor: str, repair_id: uuid.UUID,
                           acknowledgement: AcknowledgementIn) -> tuple[Repair, Device]:
    """The repaired device goes back to the same holder — never anyone else (rule U8)."""
    repair, device = await _open_repair(session, repair_id)
    device, _, _ = await issuing.issue(session, actor=actor, device_id=device.device_id,
                                       data=_issue_to_holder(repair, acknowledgement),
                                       finishing_repair=repair.repair_id)
    await _finish(session, repair, actor=actor, outcome="returned-to-holder")
    return repair, device


async def replace(session: AsyncSession, *, actor: str, repair_id: uuid.UUID,
                  replacement_device_id: uuid.UUID, acknowledgement: AcknowledgementIn
                  ) -> tuple[Repair, Device, Device]:
    """The holder gets another device instead (rule U8): the device in repair is returned from
    them — it stays in repair, held by nobody — and the replacement is issued anew, with the
    holder's subscriptions moved into it."""
    repair, old = await _open_repair(session, repair_id)
    if replacement_device_id == old.device_id:
        raise RuleViolation("The replacement must be another device; to give the repaired one "
                            "back, use the return")
    subscriptions = await TelephonyRepository(session).live_on_device(old.device_id)
    before, from_person = snapshot(old), old.holder_person_id
    unit_id = old.holder_unit_id or old.unit_id
    old.holder_person_id = old.holder_unit_id = None
    touch(old)
    await session.flush()
    await audit_device(session, actor, "device.repair-replaced", old, before,
                       repair_id=str(repair_id),
                       replacement_device_id=str(replacement_device_id))
    await add_event(session, DeviceReturned(
        device_id=old.device_id, from_person_id=from_person, unit_id=unit_id or "",
        received_by=actor, kind=old.kind, wiped=False), subject=str(old.device_id))  # type: ignore[arg-type]
    new, _, _ = await issuing.issue(session, actor=actor, device_id=replacement_device_id,
                                    data=_issue_to_holder(repair, acknowledgement),
                                    for_repair=repair_id)
    for subscription in subscriptions:
        subscription.device_id = new.device_id
        await record_audit(session, actor=actor, action="subscription.move",
                           object_type="subscription",
                           object_id=str(subscription.subscription_id),
                           before={"device_id": str(old.device_id)},
                           after={"device_id": str(new.device_id), "repair_id": str(repair_id)})
        # Announced as it now stands, so that readers (lifecycle's holdings) follow the move.
        sim = await TelephonyRepository(session).sim(subscription.sim_id)
        assert sim is not None
        await add_event(session, activated_event(subscription, sim.iccid),
                        subject=str(subscription.subscription_id))
    await _finish(session, repair, actor=actor, outcome="replaced",
                  replacement=replacement_device_id)
    return repair, old, new
