"""Support cases (rules S1, S2, S3, S5) and the apps' own support contacts. Never commits.

A case is decided the moment it is opened (domain_support.decide): accepted by central IT (S2),
routed to the app's own support with where to turn (S3), or refused with the reason (S5). Every
answer carries the support channels (S1; the policy's, policy.py). Repairs (S4): repairs.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain_support as rules
from services.inventory.models_people import AppSupport, SupportCase
from services.inventory.repository import DeviceRepository, SupportRepository
from services.inventory.support_schemas import AppSupportIn, CaseIn, CaseOut, ChannelsOut
from shared.audit import record_audit
from shared.auth import User
from shared.errors import Conflict, Forbidden, NotFound, RuleViolation
from shared.events.catalogue import SupportCaseOpened
from shared.messaging.outbox import add_event

READ_ALL = frozenset({"it-service", "auditor"})


def case_out(case: SupportCase, channels: ChannelsOut) -> CaseOut:
    """The case as answered, with the support channels in effect (rule S1, policy.py)."""
    return CaseOut(
        case_id=case.case_id, person_id=case.person_id, opened_by=case.opened_by,
        category=case.category, description=case.description, device_id=case.device_id,
        app_id=case.app_id, outcome=case.outcome, rule=case.rule,  # type: ignore[arg-type]
        state=case.state, message=case.message, routed_to=case.routed_to,  # type: ignore[arg-type]
        resolution=case.resolution, opened_at=case.opened_at, closed_at=case.closed_at,
        channels=channels)


def _contact(app: AppSupport) -> dict[str, Any]:
    return {"app_id": app.app_id, "name": app.name, "owner": app.owner, "contact": app.contact,
            "url": app.url, "phone": app.phone, "email": app.email}


async def _check_device(session: AsyncSession, device_id: uuid.UUID, person_id: str) -> None:
    device = await DeviceRepository(session).get(device_id)
    if device is None:
        raise NotFound(f"Device {device_id} is not in the register")
    if device.holder_person_id not in (None, person_id):
        raise RuleViolation(f"Device {device_id} is not held by {person_id}: a case is about "
                            "the person's own device, or a shared one")


async def open_case(session: AsyncSession, *, user: User, data: CaseIn) -> SupportCase:
    person_id = data.person_id or user.person_id
    if person_id != user.person_id and "it-service" not in user.roles:
        raise Forbidden("You may open support cases only for yourself")
    if data.device_id is not None:
        await _check_device(session, data.device_id, person_id)
    app = None
    if data.app_id is not None:
        app = await SupportRepository(session).app(data.app_id)
        if app is None:
            raise RuleViolation(f"App {data.app_id!r} is not in the list of apps and their "
                                "support: see GET /v1/support/apps")
    decision = rules.decide(data.category, data.description,
                            app=_contact(app) if app else None)
    case = SupportCase(
        case_id=uuid.uuid4(), person_id=person_id, opened_by=user.person_id,
        category=data.category, description=data.description, device_id=data.device_id,
        app_id=data.app_id, outcome=decision.outcome, rule=decision.rule, state=decision.state,
        message=decision.message, routed_to=_contact(app) if decision.outcome == "routed"
        and app else None, opened_at=datetime.now(UTC))
    await SupportRepository(session).add(case)
    await record_audit(session, actor=user.person_id, action="support-case.open",
                       object_type="support-case", object_id=str(case.case_id),
                       after={"person_id": person_id, "category": data.category,
                              "outcome": decision.outcome, "rule": decision.rule})
    await add_event(session, SupportCaseOpened(
        case_id=case.case_id, person_id=person_id, category=data.category,
        outcome=decision.outcome, rule=decision.rule, opened_by=user.person_id,  # type: ignore[arg-type]
        device_id=data.device_id, app_id=data.app_id), subject=str(case.case_id))
    return case


async def get_case(session: AsyncSession, *, user: User, case_id: uuid.UUID,
                   for_update: bool = False) -> SupportCase:
    case = await SupportRepository(session).case(case_id, for_update=for_update)
    if case is None:
        raise NotFound(f"Support case {case_id} does not exist")
    if not user.roles & READ_ALL and case.person_id != user.person_id:
        raise Forbidden("You may see only your own support cases")
    return case


async def close_case(session: AsyncSession, *, user: User, case_id: uuid.UUID,
                     resolution: str) -> SupportCase:
    case = await get_case(session, user=user, case_id=case_id, for_update=True)
    if case.state != "open":
        raise Conflict(f"Support case {case_id} is {case.state}: only an accepted, open case "
                       "is closed")
    case.state, case.resolution = "closed", resolution
    case.closed_by, case.closed_at = user.person_id, datetime.now(UTC)
    await record_audit(session, actor=user.person_id, action="support-case.close",
                       object_type="support-case", object_id=str(case_id),
                       before={"state": "open"}, after={"state": "closed",
                                                        "resolution": resolution})
    return case


async def put_app(session: AsyncSession, *, actor: str, app_id: str, data: AppSupportIn
                  ) -> tuple[AppSupport, bool]:
    """rule S3: create or change where to turn for an app; True when created."""
    repo = SupportRepository(session)
    app = await repo.app(app_id, for_update=True)
    before = None
    if app is None:
        app = AppSupport(app_id=app_id, **data.model_dump(), updated_at=datetime.now(UTC))
        await repo.add(app)
    else:
        before = AppSupportIn.model_validate(app, from_attributes=True).model_dump()
        for key, value in data.model_dump().items():
            setattr(app, key, value)
        app.updated_at = datetime.now(UTC)
    await record_audit(session, actor=actor,
                       action="app-support.create" if before is None else "app-support.change",
                       object_type="app-support", object_id=app_id, before=before,
                       after=data.model_dump())
    return app, before is None
