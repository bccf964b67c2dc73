"""Return cases (rules U7, C2, C3): open, reschedule, close, hand in, read, escalate.

Never commits. Locks: device before person (see `repository.lock`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle import domain, policy
from services.lifecycle.domain import HoldingView, Parties, PersonView, ReturnDemand
from services.lifecycle.models import Holding, Person, ReturnCase, ReturnEscalation
from services.lifecycle.repository import (
    CaseFilter,
    HoldingRepository,
    PersonRepository,
    ReturnCaseRepository,
    UnitRepository,
    lock,
)
from services.lifecycle.schemas import EscalatedCase, EscalationOut, HandInIn, ReturnCaseOut
from shared.audit import record_audit, record_audits
from shared.auth import User
from shared.errors import Conflict, Forbidden, NotFound
from shared.events.catalogue import ReturnCompleted, ReturnOverdue, ReturnRequested
from shared.messaging.outbox import add_event, add_events

POLICY_DUE_REASONS = ("employment-ended", "transferred")
CASE_FIELDS = ("case_id", "device_id", "person_id", "unit_id", "reason", "due_date",
               "receiver_person_id", "status", "received_by")


def holding_view(holding: Holding) -> HoldingView:
    return HoldingView(device_id=holding.device_id, holder_person_id=holding.holder_person_id,
                       unit_id=holding.unit_id, kind=holding.kind, state=holding.state)


def person_view(person: Person | None) -> PersonView | None:
    if person is None:
        return None
    return PersonView(
        person_id=person.person_id, unit_id=person.unit_id,
        nearest_manager_id=person.nearest_manager_id, placement=person.placement,
        placed_on=person.placed_on, previous_unit_id=person.previous_unit_id,
        previous_manager_id=person.previous_manager_id, last_day=person.last_day,
        hr_time=person.hr_time,
    )


def plain(value: Any) -> Any:
    """An audit-log (JSON) form of a column value."""
    return str(value) if isinstance(value, uuid.UUID | date) else value


def _case_audit(case: ReturnCase) -> dict[str, Any]:
    return {name: plain(getattr(case, name)) for name in CASE_FIELDS}


async def _announce(session: AsyncSession, case: ReturnCase) -> None:
    await add_event(session, ReturnRequested(
        return_case_id=case.case_id, device_id=case.device_id, person_id=case.person_id,
        unit_id=case.unit_id, reason=case.reason,  # type: ignore[arg-type]
        due_date=case.due_date, receiver_person_id=case.receiver_person_id,
    ), subject=str(case.case_id))


async def ensure_case(session: AsyncSession, holding: Holding, demand: ReturnDemand, *,
                      actor: str) -> ReturnCase:
    """Open the device's return case, or, if one is open, bring its due date forward if needed.

    The partial unique index makes "one open case per device" hold under any concurrency.
    """
    cases = ReturnCaseRepository(session)
    assert holding.unit_id is not None  # an issued device always has its unit
    due = await policy_due(session, holding.unit_id, demand.reason, demand.due_date)
    demand = ReturnDemand(demand.reason, due, demand.receiver)
    while True:
        values = {"case_id": uuid.uuid4(), "device_id": holding.device_id,
                  "person_id": holding.holder_person_id, "unit_id": holding.unit_id,
                  "reason": demand.reason, "due_date": demand.due_date,
                  "receiver_person_id": demand.receiver, "opened_by": actor}
        if (case := await cases.insert_if_none_open(values)) is not None:
            await record_audit(session, actor=actor, action="return-case.open",
                               object_type="return-case", object_id=str(case.case_id),
                               after=_case_audit(case))
            await _announce(session, case)
            return case
        case = await cases.open_for_device(holding.device_id)
        if case is None:
            continue  # the conflicting case was completed in the meantime: open ours
        if case.person_id == holding.holder_person_id and (
                earlier := domain.earlier_due(case.due_date, demand.due_date)) is not None:
            await _move_due(session, case, earlier, actor)
        return case


async def policy_due(session: AsyncSession, unit_id: str, reason: str, day: date) -> date:
    """rules U7, B5: a device asked back for an end or a move is due the number of days after
    the last day (of the employment, or in the unit left: `domain.transfer_demand`) that the
    effective policy of its unit sets (0 by the municipality's: on the last day)."""
    if reason not in POLICY_DUE_REASONS:
        return day
    effective = await policy.effective_for_unit(session, unit_id)
    return day + timedelta(days=effective.parameters.return_due_days_after_last_day)


async def _move_due(session: AsyncSession, case: ReturnCase, due: date, actor: str) -> None:
    await _amend(session, case, ReturnDemand(case.reason, due, case.receiver_person_id), actor)


async def _amend(session: AsyncSession, case: ReturnCase, demand: ReturnDemand, actor: str
                 ) -> None:
    """A new due date or receiver, announced again under the same case id (newest wins)."""
    before = _case_audit(case)
    action = "reschedule" if demand.due_date != case.due_date else "readdress"
    case.due_date, case.receiver_person_id = demand.due_date, demand.receiver
    case.version += 1
    await session.flush()
    await record_audit(session, actor=actor, action=f"return-case.{action}",
                       object_type="return-case", object_id=str(case.case_id),
                       before=before, after=_case_audit(case))
    await _announce(session, case)


async def correct_cases(session: AsyncSession, person_id: str, *, replaced: ReturnDemand,
                        demand: ReturnDemand, actor: str) -> None:
    """An HR correction of an end or a transfer (`replaced`: what the corrected event asked):
    the open cases that event opened follow its new date and receiver; the cases of earlier
    moves or employments keep theirs (rule U7)."""
    for case in await ReturnCaseRepository(session).open_for_person(person_id, demand.reason):
        current = ReturnDemand(case.reason, case.due_date, case.receiver_person_id)
        old_due = await policy_due(session, case.unit_id, replaced.reason, replaced.due_date)
        new_due = await policy_due(session, case.unit_id, demand.reason, demand.due_date)
        corrected = domain.corrected_demand(
            current, replaced=ReturnDemand(replaced.reason, old_due, replaced.receiver),
            demand=ReturnDemand(demand.reason, new_due, demand.receiver))
        if corrected is not None:
            await _amend(session, case, corrected, actor)


async def close_case(session: AsyncSession, case: ReturnCase, *, received_by: str,
                     completed_at: datetime) -> None:
    before = _case_audit(case)
    case.status, case.received_by, case.completed_at = "completed", received_by, completed_at
    case.version += 1
    await session.flush()
    await record_audit(session, actor=received_by, action="return-case.complete",
                       object_type="return-case", object_id=str(case.case_id),
                       before=before, after=_case_audit(case))
    await add_event(session, ReturnCompleted(
        return_case_id=case.case_id, device_id=case.device_id, person_id=case.person_id,
        received_by=received_by, completed_at=completed_at,
    ), subject=str(case.case_id))


async def demand_for_current_holder(session: AsyncSession, holding: Holding, *,
                                    timezone: str) -> None:
    """A device issued after an end or transfer was announced still gets its case (rule U7).
    `timezone`: the municipality's, whose calendar day of the issue counts."""
    person = await PersonRepository(session).get(holding.holder_person_id)
    issued_on = holding.issued_at.astimezone(ZoneInfo(timezone)).date() \
        if holding.issued_at else None
    demand = domain.demand_for_new_device(person_view(person), holding_view(holding), issued_on)
    if demand is not None:
        await ensure_case(session, holding, demand, actor="inventory")


# --- hand-in by hand (rules C3, C2) ---------------------------------------------------------


async def device_parties(session: AsyncSession, holding: HoldingView, user: User,
                         *, members_count_on: date | None) -> Parties:
    """`members_count_on`: the day on which working in a shared device's unit gives a right
    (a loss report, rule U9); None: it gives none (a hand-in)."""
    holder = holding.holder_person_id
    people = PersonRepository(session)
    managers = await people.managers_of(holder)
    managers.add(await UnitRepository(session).head_of(holding.unit_id) or "")
    member = False
    if holder is None and members_count_on is not None:
        member = domain.works_in_unit(person_view(await people.get(user.person_id)),
                                      holding.unit_id, members_count_on)
    return Parties(person_id=holder, managers=frozenset(m for m in managers if m),
                   unit_id=holding.unit_id or "", members_of_unit=member)


async def hand_in(session: AsyncSession, *, actor: User, data: HandInIn, today: date,
                  hand_in_days: int) -> ReturnCase:
    await lock(session, "device", data.device_id)
    holding = await HoldingRepository(session).get(data.device_id)
    view = domain.check_can_hand_in(holding_view(holding) if holding else None, data.device_id)
    assert holding is not None
    parties = await device_parties(session, view, actor, members_count_on=None)
    if not domain.may_act_on_device(actor, parties):
        raise Forbidden("Only the holder, their manager or IT service may hand this device in")
    if holding.holder_person_id:
        await lock(session, "person", holding.holder_person_id)
    existing = await ReturnCaseRepository(session).open_for_device(data.device_id)
    if existing is not None:
        raise Conflict(f"Device {data.device_id} already has an open return case "
                       f"({existing.case_id}), due {existing.due_date.isoformat()}",
                       case_id=str(existing.case_id))
    due = domain.hand_in_due(today, data.due_date, hand_in_days)
    # rules C2, C3: handed in to IT service, so no manager receives it.
    return await ensure_case(session, holding, ReturnDemand(data.reason, due, None),
                             actor=actor.person_id)


# --- reading cases, object by object ------------------------------------------------------


async def person_parties(session: AsyncSession, person_id: str) -> Parties:
    """The person and their managers: the nearest manager and the head of their unit."""
    managers = await PersonRepository(session).managers_of(person_id)
    return Parties(person_id=person_id, managers=frozenset(managers), unit_id="")


async def case_parties(session: AsyncSession, case: ReturnCase) -> Parties:
    managers = await PersonRepository(session).managers_of(case.person_id)
    managers |= {case.receiver_person_id or "",
                 await UnitRepository(session).head_of(case.unit_id) or ""}
    return Parties(person_id=case.person_id, managers=frozenset(m for m in managers if m),
                   unit_id=case.unit_id)


async def read_case(session: AsyncSession, *, actor: User, case_id: uuid.UUID, today: date
                    ) -> ReturnCaseOut:
    cases = ReturnCaseRepository(session)
    case = await cases.get(case_id)
    if case is None:
        raise NotFound(f"Return case {case_id} does not exist")
    if not domain.may_read(actor, await case_parties(session, case)):
        raise Forbidden("Only the holder, their manager, IT service or an auditor may see "
                        "this return case")
    holding = await HoldingRepository(session).get(case.device_id)
    return (await render(session, [(case, holding.state if holding else None)], today))[0]


async def render(session: AsyncSession, rows: Sequence[tuple[ReturnCase, str | None]],
                 today: date) -> list[ReturnCaseOut]:
    escalations = await ReturnCaseRepository(session).escalations_of(c.case_id for c, _ in rows)
    return [_out(case, state, escalations[case.case_id], today) for case, state in rows]


def _out(case: ReturnCase, device_state: str | None, escalations: list[ReturnEscalation],
         today: date) -> ReturnCaseOut:
    overdue = domain.days_overdue(case.due_date, today) if case.status == "open" else 0
    return ReturnCaseOut(
        case_id=case.case_id, device_id=case.device_id, person_id=case.person_id,
        unit_id=case.unit_id, reason=case.reason,  # type: ignore[arg-type]
        status=case.status,  # type: ignore[arg-type]
        due_date=case.due_date,
        receiver="nearest-manager" if case.receiver_person_id else "it-service",
        receiver_person_id=case.receiver_person_id, device_state=device_state,
        days_overdue=overdue, opened_by=case.opened_by, opened_at=case.opened_at,
        completed_at=case.completed_at, received_by=case.received_by,
        escalations=[EscalationOut.model_validate(e) for e in escalations],
    )


async def list_cases(session: AsyncSession, f: CaseFilter, *, today: date, limit: int,
                     offset: int) -> list[ReturnCaseOut]:
    rows = await ReturnCaseRepository(session).listing(f, limit=limit, offset=offset)
    return await render(session, rows, today)


async def list_for_manager(session: AsyncSession, manager_id: str, *, status: str | None,
                           today: date, limit: int, offset: int) -> list[ReturnCaseOut]:
    rows = await ReturnCaseRepository(session).for_manager(
        manager_id, status=status, limit=limit, offset=offset)
    return await render(session, rows, today)


# --- escalation of overdue cases (rule U7) --------------------------------------------------


async def escalate_overdue(session: AsyncSession, *, as_of: date, actor: str
                           ) -> list[EscalatedCase]:
    """Escalate every overdue case once per level: running it again escalates nothing twice.

    The interval between levels is the escalation interval of the effective policy of the
    case's unit (rules U7, B5).

    Levels a case passed while no sweep ran (an outage longer than an interval) are recorded in
    the audit trail as skipped, not escalated: only the current level is stored and published.
    Every level goes to the same head (`escalation_target` does not depend on the level), so
    publishing the missed ones would only send that head several stale reminders at once
    ("1 day overdue" when it is 15); what rule U7 asks of them is to act on the case now.
    The skip is written only by the run that inserted the current level, so it is never
    recorded twice either, also when two replicas sweep at once.
    """
    cases = ReturnCaseRepository(session)
    effective = policy.Resolver(session)
    planned: dict[tuple[uuid.UUID, int], tuple[ReturnCase, dict[str, Any]]] = {}
    for case, unit_head, parent_head in await cases.overdue(as_of):
        days = domain.days_overdue(case.due_date, as_of)
        interval = (await effective.for_unit(case.unit_id)).escalation_interval_days
        level = domain.escalation_level(days, interval)
        target = domain.escalation_target(case.receiver_person_id, unit_head, parent_head)
        planned[(case.case_id, level)] = (case, {
            "case_id": case.case_id, "level": level, "days_overdue": days,
            "escalated_to": target, "as_of": as_of})
    rows = [row for _, row in planned.values()]
    inserted: set[tuple[uuid.UUID, int]] = set()
    for start in range(0, len(rows), 1000):  # PostgreSQL caps the parameters per statement
        inserted |= await cases.add_escalations(rows[start:start + 1000])
    last = await cases.highest_levels_below(dict(inserted))  # one level per case
    done, audits, events = [], [], []
    for key in sorted(inserted, key=lambda k: (str(k[0]), k[1])):
        case, row = planned[key]
        skipped = domain.skipped_levels(row["level"], last.get(case.case_id, 0))
        if skipped:
            audits.append(_skip_audit(actor, row, skipped))
        audits.append({"actor": actor, "action": "return-case.escalate",
                       "object_type": "return-case", "object_id": str(case.case_id),
                       "after": {k: plain(v) for k, v in row.items()}})
        events.append((ReturnOverdue(
            return_case_id=case.case_id, device_id=case.device_id, person_id=case.person_id,
            due_date=case.due_date, escalated_to=row["escalated_to"],
            days_overdue=row["days_overdue"], escalation_level=row["level"],
            unit_id=case.unit_id, receiver_person_id=case.receiver_person_id,
        ), str(case.case_id)))
        done.append(EscalatedCase(case_id=case.case_id, level=row["level"],
                                  days_overdue=row["days_overdue"],
                                  escalated_to=row["escalated_to"]))
    # One statement per thousand, not two per case: a sweep after an outage may find many.
    await record_audits(session, audits)
    await add_events(session, events)
    return done


def _skip_audit(actor: str, row: dict[str, Any], skipped: range) -> dict[str, Any]:
    # The first and last level, not one entry per level: a sweep that was down for months, or
    # a backlog of old cases, would otherwise write hundreds of entries per case (rule U7).
    return {"actor": actor, "action": "return-case.skip-escalation",
            "object_type": "return-case", "object_id": str(row["case_id"]),
            "after": {"case_id": str(row["case_id"]), "first_skipped_level": skipped[0],
                      "last_skipped_level": skipped[-1], "escalated_level": row["level"],
                      "days_overdue": row["days_overdue"], "as_of": plain(row["as_of"])}}
