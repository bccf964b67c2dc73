"""Fixed telephony (rules B4, U1, U2, U3): what the telephony platform reports, the people read
model from HR's events, and each person's readiness checklist. Never commits, except the pull
job, which is its own outermost wrapper.

The platform reaches us two ways, both applied by `apply`: it posts reports to
`POST /v1/telephony/reports` (credentials with the role `telephony`), or inventory pulls a
snapshot through the port (ports.TelephonyPort) on a schedule and on IT service's request.
An extension changes only when the observation is newer than the stored one, so late, repeated
or overlapping reports change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain_telephony as rules
from services.inventory import ports
from services.inventory.models_people import Extension, Person
from services.inventory.records import today
from services.inventory.repository import ExtensionRepository, PeopleRepository
from services.inventory.telephony_schemas import (
    ItemOut,
    ReadinessOut,
    StaffReadinessOut,
    TelephonyReportIn,
    TelephonyReportOut,
)
from shared.audit import record_audit
from shared.auth import User
from shared.db import transaction
from shared.errors import Forbidden
from shared.events.catalogue import EmployeeHired, EmployeeTransferred, EmploymentEnded
from shared.runtime import ServiceRuntime, repeat_every
from shared.settings import InventorySettings

log = logging.getLogger(__name__)
READ_ALL = frozenset({"it-service", "auditor"})


# --- reports in ----------------------------------------------------------------------------------


async def apply(session: AsyncSession, *, actor: str, report_id: str,
                rows: Sequence[dict[str, Any]]) -> TelephonyReportOut:
    """Record a report once and apply each extension it holds, newest observation wins."""
    extensions = ExtensionRepository(session)
    if not await extensions.record_report(report_id, actor, len(rows)):
        stored = await extensions.report(report_id)
        assert stored is not None
        return TelephonyReportOut(report_id=report_id, entries=stored.entries,
                                  applied=stored.applied, duplicate=True)
    changed = await extensions.upsert([{**row, "report_id": report_id} for row in rows])
    await extensions.set_applied(report_id, len(changed))
    await record_audit(session, actor=actor, action="telephony.report",
                       object_type="telephony-report", object_id=report_id,
                       after={"entries": len(rows), "applied": sorted(changed)})
    return TelephonyReportOut(report_id=report_id, entries=len(rows), applied=len(changed),
                              duplicate=False)


async def receive_report(session: AsyncSession, *, actor: str, data: TelephonyReportIn
                         ) -> TelephonyReportOut:
    rows = [e.model_dump() | {"observed_at": e.observed_at or data.observed_at}
            for e in data.extensions]
    return await apply(session, actor=actor, report_id=data.report_id, rows=rows)


async def pull(session: AsyncSession, *, actor: str) -> TelephonyReportOut:
    """Read the platform's current state through the port and apply it like a report."""
    snapshot = await ports.telephony().snapshot()
    rows = [{"extension_id": e.extension_id, "number": e.number, "kind": e.kind,
             "person_id": e.person_id, "presence": e.presence,
             "forwarding_active": e.forwarding_active, "forwarding_target": e.forwarding_target,
             "voicemail_set_up": e.voicemail_set_up, "personal_greeting": e.personal_greeting,
             "removed": e.removed, "observed_at": e.observed_at} for e in snapshot.extensions]
    if not rows:
        return TelephonyReportOut(report_id=snapshot.snapshot_id, entries=0, applied=0,
                                  duplicate=False)
    return await apply(session, actor=actor, report_id=snapshot.snapshot_id, rows=rows)


async def pull_job(runtime: ServiceRuntime) -> None:
    """The scheduled pull (a ServiceSpec background job), every
    KM_INVENTORY_TELEPHONY_POLL_SECONDS; replicas may overlap harmlessly (newest wins)."""
    settings = runtime.settings
    interval = (settings.telephony_poll_seconds if isinstance(settings, InventorySettings)
                else 300.0)

    async def once() -> None:
        async with transaction(runtime.sessions) as session:
            await pull(session, actor="telephony-pull")

    await repeat_every(interval, once, what="telephony pull", logger=log, wait_first=True)


# --- the people read model (HR's events through lifecycle) --------------------------------------


async def _apply_person(session: AsyncSession, event_time: datetime, person_id: str, *,
                        unit_id: str, nearest_manager_id: str | None,
                        keep_manager: bool = False, last_day: Any = None) -> None:
    """Upsert a person; an older or repeated event changes nothing."""
    people = PeopleRepository(session)
    new = Person(person_id=person_id, unit_id=unit_id, nearest_manager_id=nearest_manager_id,
                 last_day=last_day, source_event_time=event_time)
    if await people.insert_new(new):
        return
    person = await people.get(person_id, for_update=True)
    assert person is not None
    if event_time <= person.source_event_time:
        return
    person.unit_id, person.last_day, person.source_event_time = unit_id, last_day, event_time
    if not (keep_manager and nearest_manager_id is None):
        person.nearest_manager_id = nearest_manager_id


async def on_employee_hired(session: AsyncSession, event: EmployeeHired, at: datetime) -> None:
    await _apply_person(session, at, event.person_id, unit_id=event.unit_id,
                        nearest_manager_id=event.nearest_manager_id)


async def on_employee_transferred(session: AsyncSession, event: EmployeeTransferred,
                                  at: datetime) -> None:
    # A new unit: a manager HR did not name is unknown (the unit's head stands in), not the old.
    await _apply_person(session, at, event.person_id, unit_id=event.to_unit_id,
                        nearest_manager_id=event.nearest_manager_id)


async def on_employment_ended(session: AsyncSession, event: EmploymentEnded, at: datetime
                              ) -> None:
    await _apply_person(session, at, event.person_id, unit_id=event.unit_id,
                        nearest_manager_id=event.nearest_manager_id, keep_manager=True,
                        last_day=event.last_day)


# --- readiness -----------------------------------------------------------------------------------


def _state(e: Extension) -> rules.ExtensionState:
    return rules.ExtensionState(e.extension_id, e.number, e.kind, e.presence,
                                e.forwarding_active, e.forwarding_target, e.voicemail_set_up,
                                e.personal_greeting, e.observed_at)


def _readiness(person_id: str, staffing: rules.Staffing | None, extensions: list[Extension]
               ) -> ReadinessOut:
    items = rules.checklist([_state(e) for e in extensions])
    missing = sum(i.status == "missing" for i in items)
    return ReadinessOut(
        person_id=person_id, unit_id=staffing.unit_id if staffing else None,
        manager_id=staffing.manager_id if staffing else None, ready=missing == 0,
        missing=missing, items=[ItemOut(**vars(i)) for i in items])


async def person_readiness(session: AsyncSession, *, user: User, person_id: str
                           ) -> ReadinessOut:
    """rules U1–U3: one person's checklist, for them, their manager, IT service, the auditor."""
    staffing = await PeopleRepository(session).staffing(person_id)
    rules.check_may_see(user.person_id, user.roles, staffing, person_id)
    extensions = await ExtensionRepository(session).of_people([person_id])
    return _readiness(person_id, staffing, extensions[person_id])


async def staff_readiness(session: AsyncSession, *, user: User, manager_id: str | None
                          ) -> StaffReadinessOut:
    """rule U1: a manager sees their staff's readiness and what is missing."""
    manager = manager_id or user.person_id
    if manager != user.person_id and not user.roles & READ_ALL:
        raise Forbidden("You may see only your own staff's readiness")
    staff = await PeopleRepository(session).staff_of(manager, today=today())
    extensions = await ExtensionRepository(session).of_people([s.person_id for s in staff])
    people = [_readiness(s.person_id, s, extensions[s.person_id]) for s in staff]
    ready = sum(p.ready for p in people)
    return StaffReadinessOut(manager_id=manager, ready=ready, not_ready=len(people) - ready,
                             people=people)

