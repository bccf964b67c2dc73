"""Lifecycle use cases for the organisation and HR: load, apply the rules, save, add the events.

Never commits. Returns, holdings and losses are in `offboarding.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle import domain, offboarding, policy, private_use
from services.lifecycle.domain import Decision, Outcome, ReturnDemand
from services.lifecycle.models import HrEvent, Person, Unit
from services.lifecycle.repository import (
    HoldingRepository,
    HrEventRepository,
    PersonRepository,
    UnitRepository,
    lock,
)
from services.lifecycle.schemas import HrReceipt, UnitCreate, UnitIn
from services.lifecycle.webhook import (
    EmployeeHiredIn,
    EmployeeTransferredIn,
    EmploymentEndedIn,
    HrEnd,
    HrHire,
    HrTransfer,
    HrUnit,
    UnitChangedIn,
    UnitRegisteredIn,
    subject_of,
)
from shared.audit import record_audit
from shared.auth import User
from shared.errors import Conflict, NotFound
from shared.events.catalogue import (
    EmployeeHired,
    EmployeeTransferred,
    EmploymentEnded,
    UnitChanged,
    UnitRegistered,
)
from shared.messaging.outbox import add_event

UNIT_FIELDS = ("unit_id", "name", "administration", "parent_unit_id", "cost_centre",
               "head_person_id")
PERSON_FIELDS = ("person_id", "unit_id", "nearest_manager_id", "start_date", "placement",
                 "placed_on", "previous_unit_id", "previous_manager_id", "last_day")
HR_ACTOR = "hr"


def _snapshot(unit: Unit) -> dict[str, Any]:
    return {name: getattr(unit, name) for name in UNIT_FIELDS}


def _person_snapshot(person: Person) -> dict[str, Any]:
    return {name: getattr(person, name) for name in PERSON_FIELDS}


def _jsonable(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in snapshot.items()}


# --- units: IT service by hand, HR by webhook ----------------------------------------------


async def register_unit(session: AsyncSession, *, actor: User, data: UnitCreate) -> Unit:
    units = UnitRepository(session)
    await lock(session, "unit", data.unit_id)
    if await units.exists(data.unit_id):
        raise Conflict(f"Unit {data.unit_id} is already registered")
    parent_exists = bool(data.parent_unit_id) and await units.exists(data.parent_unit_id or "")
    domain.check_parent(data.unit_id, data.parent_unit_id, parent_exists)
    unit = Unit(**data.model_dump(), version=1, source_time=datetime.now(UTC))
    await units.add(unit)
    after = _snapshot(unit)
    await record_audit(session, actor=actor.person_id, action="unit.register",
                       object_type="unit", object_id=unit.unit_id, after=after)
    await add_event(session, UnitRegistered(**after), subject=unit.unit_id)
    return unit


async def change_unit(session: AsyncSession, *, actor: User, unit_id: str, data: UnitIn) -> Unit:
    units = UnitRepository(session)
    unit = await units.get(unit_id, for_update=True)
    if unit is None:
        raise NotFound(f"Unit {unit_id} is not registered")
    parent_exists = bool(data.parent_unit_id) and await units.exists(data.parent_unit_id or "")
    domain.check_parent(unit_id, data.parent_unit_id, parent_exists)
    await _change(session, unit, data.model_dump(), actor.person_id, datetime.now(UTC))
    return unit


async def _change(session: AsyncSession, unit: Unit, values: dict[str, Any], actor: str,
                  source_time: datetime) -> bool:
    before = _snapshot(unit)
    for name, value in values.items():
        setattr(unit, name, value)
    after = _snapshot(unit)
    unit.source_time = max(source_time, unit.source_time or source_time)
    if after == before:
        return False  # nothing changed: no event, no audit entry
    unit.version += 1
    unit.updated_at = datetime.now(UTC)
    await session.flush()
    await record_audit(session, actor=actor, action="unit.change", object_type="unit",
                       object_id=unit.unit_id, before=before, after=after)
    await add_event(session, UnitChanged(**after), subject=unit.unit_id)
    if any(before[k] != after[k] for k in ("administration", "parent_unit_id")):
        await policy.unit_moved(session, unit.unit_id, actor=actor)  # rule B5: what it inherits
    return True


async def get_unit(session: AsyncSession, unit_id: str) -> Unit:
    unit = await UnitRepository(session).get(unit_id)
    if unit is None:
        raise NotFound(f"Unit {unit_id} is not registered")
    return unit


async def _hr_unit(session: AsyncSession, data: HrUnit, hr_time: datetime) -> Decision:
    """unit.registered and unit.changed alike: HR's current view of the unit at `hr_time`."""
    domain.check_not_own_parent(data.unit_id, data.parent_unit_id)
    await lock(session, "unit", data.unit_id)
    units = UnitRepository(session)
    unit = await units.get(data.unit_id, for_update=True)
    if unit is None:
        unit = Unit(**data.model_dump(), version=1, source_time=hr_time)
        await units.add(unit)
        after = _snapshot(unit)
        await record_audit(session, actor=HR_ACTOR, action="unit.register", object_type="unit",
                           object_id=unit.unit_id, after=after)
        await add_event(session, UnitRegistered(**after), subject=unit.unit_id)
        return Decision(Outcome.APPLIED, "unit registered")
    if unit.source_time is not None and hr_time <= unit.source_time:
        return Decision(Outcome.STALE, f"HR recorded this at {hr_time.isoformat()}, not after "
                        f"the unit's newest change ({unit.source_time.isoformat()})")
    values = data.model_dump(exclude={"unit_id"})
    if await _change(session, unit, values, HR_ACTOR, hr_time):
        return Decision(Outcome.APPLIED, "unit changed")
    return Decision(Outcome.UNCHANGED, "the unit is already so")


# --- HR events about people (rule U7) ------------------------------------------------------


async def receive_hr_event(session: AsyncSession, *, webhook_id: str, event: Any,
                           payload: dict[str, Any]) -> HrReceipt:
    """Apply one HR delivery exactly once per webhook-id; the caller commits before answering."""
    events = HrEventRepository(session)
    claimed = await events.claim(webhook_id=webhook_id, event_type=event.type,
                                 subject=subject_of(event), hr_time=event.timestamp,
                                 payload=payload)
    if not claimed:
        stored = await events.get(webhook_id)
        assert stored is not None  # the conflicting row is committed: that is why we got here
        return _receipt(stored, duplicate=True)
    decision = await _apply(session, event)
    await events.settle(webhook_id, decision.outcome.value, decision.detail)
    return HrReceipt(webhook_id=webhook_id, type=event.type, outcome=decision.outcome.value,
                     detail=decision.detail, duplicate=False)


def _receipt(stored: HrEvent, *, duplicate: bool) -> HrReceipt:
    return HrReceipt(webhook_id=stored.webhook_id, type=stored.event_type,
                     outcome=stored.outcome,  # type: ignore[arg-type]
                     detail=stored.detail, duplicate=duplicate)


async def _apply(session: AsyncSession, event: Any) -> Decision:
    if isinstance(event, UnitRegisteredIn | UnitChangedIn):
        return await _hr_unit(session, event.data, event.timestamp)
    if isinstance(event, EmployeeHiredIn):
        return await _hire(session, event.data, event.timestamp)
    if isinstance(event, EmployeeTransferredIn):
        return await _transfer(session, event.data, event.timestamp)
    assert isinstance(event, EmploymentEndedIn)
    return await _end(session, event.data, event.timestamp)


async def _save_person(session: AsyncSession, person: Person | None, values: dict[str, Any],
                       hr_time: datetime, action: str) -> tuple[Person, bool]:
    """Create or update the person; True when anything but the HR time changed."""
    people = PersonRepository(session)
    if person is None:
        person = Person(**values, hr_time=hr_time, version=1)
        await people.add(person)
        await record_audit(session, actor=HR_ACTOR, action=action, object_type="person",
                           object_id=person.person_id,
                           after=_jsonable(_person_snapshot(person)))
        return person, True
    before = _person_snapshot(person)
    for name, value in values.items():
        setattr(person, name, value)
    person.hr_time = hr_time
    after = _person_snapshot(person)
    if after == before:
        return person, False
    person.version += 1
    person.updated_at = datetime.now(UTC)
    await session.flush()
    await record_audit(session, actor=HR_ACTOR, action=action, object_type="person",
                       object_id=person.person_id, before=_jsonable(before),
                       after=_jsonable(after))
    return person, True


async def _hire(session: AsyncSession, data: HrHire, hr_time: datetime) -> Decision:
    await lock(session, "person", data.person_id)
    person = await PersonRepository(session).get(data.person_id)
    view = offboarding.person_view(person)
    decision = domain.decide_hire(view, data.start_date, hr_time)
    if decision.outcome is not Outcome.APPLIED:
        return decision
    values: dict[str, Any] = {"person_id": data.person_id, "start_date": data.start_date}
    if not domain.hire_corrects_start_only(view):  # else the later transfer stands (rule U7)
        values |= {"unit_id": data.unit_id, "nearest_manager_id": data.nearest_manager_id,
                   "placement": "hired", "placed_on": data.start_date,
                   "previous_unit_id": None, "previous_manager_id": None, "last_day": None}
    person, changed = await _save_person(session, person, values, hr_time, "person.hire")
    if not changed:
        return Decision(Outcome.UNCHANGED, "the hire is already known")
    await add_event(session, EmployeeHired(
        person_id=person.person_id, unit_id=person.unit_id,
        nearest_manager_id=person.nearest_manager_id, start_date=data.start_date,
    ), subject=person.person_id)
    return decision


async def _transfer(session: AsyncSession, data: HrTransfer, hr_time: datetime) -> Decision:
    await lock(session, "person", data.person_id)
    person = await PersonRepository(session).get(data.person_id)
    decision = domain.decide_transfer(offboarding.person_view(person), hr_time)
    if decision.outcome is not Outcome.APPLIED:
        return decision
    knew_manager = person.nearest_manager_id if person and person.unit_id == data.from_unit_id \
        else None
    if person is not None and person.placement == "transferred" \
            and person.unit_id == data.to_unit_id:
        knew_manager = person.previous_manager_id  # a correction of the same transfer
    receiver = domain.first_of(data.previous_manager_id, knew_manager) \
        or await UnitRepository(session).head_of(data.from_unit_id)
    replaced_move = domain.corrected_move(offboarding.person_view(person), data.from_unit_id,
                                          data.to_unit_id)
    # rule U7: what the corrected move asked, by the same formula as the demand below.
    replaced = domain.transfer_demand(replaced_move, knew_manager) if replaced_move else None
    person, changed = await _save_person(session, person, {
        "person_id": data.person_id, "unit_id": data.to_unit_id,
        "nearest_manager_id": data.nearest_manager_id, "placement": "transferred",
        "placed_on": data.effective_date, "previous_unit_id": data.from_unit_id,
        "previous_manager_id": receiver,
    }, hr_time, "person.transfer")
    if not changed:
        return Decision(Outcome.UNCHANGED, "the transfer is already known")
    await add_event(session, EmployeeTransferred(
        person_id=person.person_id, from_unit_id=data.from_unit_id, to_unit_id=data.to_unit_id,
        nearest_manager_id=data.nearest_manager_id, effective_date=data.effective_date,
    ), subject=person.person_id)
    demand = domain.transfer_demand(data.effective_date, receiver)  # due on the last day there
    if replaced is not None:  # rule U7: only the cases the corrected move opened follow it
        await offboarding.correct_cases(session, person.person_id, replaced=replaced,
                                        demand=demand, actor=HR_ACTOR)
    for holding in await HoldingRepository(session).held_by(person.person_id):
        if domain.must_return_on_transfer(offboarding.holding_view(holding), data.to_unit_id):
            await offboarding.ensure_case(session, holding, demand, actor=HR_ACTOR)
    await private_use.transferred(session, person.person_id, data.to_unit_id,
                                  data.effective_date, corrects=replaced_move)  # rule P1
    return decision


async def _end(session: AsyncSession, data: HrEnd, hr_time: datetime) -> Decision:
    await lock(session, "person", data.person_id)
    person = await PersonRepository(session).get(data.person_id)
    # The manager we knew is the right one only if the person ends in the unit we knew.
    known = person.nearest_manager_id if person and person.unit_id == data.unit_id else None
    receiver = domain.first_of(data.nearest_manager_id, known) or domain.first_of(
        await UnitRepository(session).head_of(data.unit_id),
        person.nearest_manager_id if person else None)
    decision = domain.decide_end(offboarding.person_view(person), data.last_day, hr_time,
                                 unit_id=data.unit_id, receiver=receiver)
    if decision.outcome is Outcome.UNCHANGED and person is not None:
        person.hr_time = hr_time
    if decision.outcome is not Outcome.APPLIED:
        return decision
    replaced_last_day = person.last_day if person is not None else None  # of this employment
    replaced = ReturnDemand("employment-ended", replaced_last_day, person.nearest_manager_id) \
        if person is not None and replaced_last_day is not None else None
    values: dict[str, Any] = {"person_id": data.person_id, "unit_id": data.unit_id,
                              "nearest_manager_id": receiver, "last_day": data.last_day}
    if person is None:
        values |= {"placement": "unknown", "placed_on": None}
    person, _ = await _save_person(session, person, values, hr_time, "person.end")
    await add_event(session, EmploymentEnded(
        person_id=person.person_id, unit_id=data.unit_id, last_day=data.last_day,
        nearest_manager_id=receiver,
    ), subject=person.person_id)
    demand = ReturnDemand("employment-ended", data.last_day, receiver)
    if replaced is not None:  # rule U7: only the cases the corrected end opened follow it
        await offboarding.correct_cases(session, person.person_id, replaced=replaced,
                                        demand=demand, actor=HR_ACTOR)
    for holding in await HoldingRepository(session).held_by(person.person_id):
        if domain.must_return_on_end(offboarding.holding_view(holding)):
            await offboarding.ensure_case(session, holding, demand, actor=HR_ACTOR)
    await private_use.employment_ended(session, person.person_id, data.last_day,
                                       corrects=replaced_last_day)  # rule P1
    return decision


async def get_person(session: AsyncSession, person_id: str) -> Person:
    person = await PersonRepository(session).get(person_id)
    if person is None:
        raise NotFound(f"Person {person_id} is not known: HR has sent nothing about them")
    return person
