"""Return cases (rules U7, C2, C3) and losses (rule U9) over HTTP. Thin: authorise, delegate.

Object-level rules (domain.may_read / may_act_on_device): a person sees their own, a manager
their staff's, IT service all, an auditor reads all; anything else is 403.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from services.lifecycle import domain, losses, offboarding
from services.lifecycle.deps import ItService, Offset, Page, Reader, SettingsDep, Today
from services.lifecycle.repository import CaseFilter, LossRepository
from services.lifecycle.schemas import (
    EscalationRunOut,
    HandInIn,
    LossIn,
    LossOut,
    ReturnCaseOut,
    ReturnReason,
)
from shared.auth import CurrentUser, User
from shared.errors import Forbidden
from shared.runtime import SessionDep

router = APIRouter(tags=["returns"])
people_router = APIRouter(tags=["returns"])
StatusFilter = Annotated[Literal["open", "completed", "all"], Query(alias="status")]


def _status(value: str) -> str | None:
    return None if value == "all" else value


@router.get("/return-cases", response_model=list[ReturnCaseOut],
            summary="All return cases, filterable (IT service, auditor)")
async def list_return_cases(
    session: SessionDep, user: Reader, today: Today, case_status: StatusFilter = "open",
    reason: ReturnReason | None = None, unit_id: str | None = None,
    person_id: str | None = None, receiver_person_id: str | None = None,
    device_id: uuid.UUID | None = None,
    overdue: Annotated[bool, Query(description="only open cases past their due date")] = False,
    limit: Page = 100, offset: Offset = 0,
) -> list[ReturnCaseOut]:
    f = CaseFilter(status=_status(case_status), reason=reason, unit_id=unit_id, person_id=person_id,
                   receiver_person_id=receiver_person_id, device_id=device_id,
                   overdue_on=today if overdue else None)
    return await offboarding.list_cases(session, f, today=today, limit=limit, offset=offset)


@router.get("/return-cases/{case_id}", response_model=ReturnCaseOut,
            summary="One return case (holder, their manager, IT service, auditor)")
async def get_return_case(case_id: uuid.UUID, session: SessionDep, user: CurrentUser,
                          today: Today) -> ReturnCaseOut:
    return await offboarding.read_case(session, actor=user, case_id=case_id, today=today)


@router.post("/return-cases", response_model=ReturnCaseOut,
             status_code=status.HTTP_201_CREATED,
             summary="Hand a device in to IT service: not needed or consumed (rules C3, C2)")
async def hand_in(body: HandInIn, session: SessionDep, user: CurrentUser, today: Today,
                  settings: SettingsDep) -> ReturnCaseOut:
    case = await offboarding.hand_in(session, actor=user, data=body, today=today,
                                     hand_in_days=settings.hand_in_days)
    return await offboarding.read_case(session, actor=user, case_id=case.case_id, today=today)


@router.post("/return-cases/escalations", response_model=EscalationRunOut,
             summary="Run the overdue escalation now (IT service; repeatable)")
async def escalate_now(
    session: SessionDep, user: ItService, today: Today,
    as_of: Annotated[date | None, Query(description="Escalate as of this day (default today; "
                                        "never in the future)")] = None,
) -> EscalationRunOut:
    day = as_of or today
    domain.check_as_of(day, today)
    done = await offboarding.escalate_overdue(session, as_of=day, actor=user.person_id)
    return EscalationRunOut(as_of=day, escalated=done)


async def _may_list(session: SessionDep, user: User, person_id: str) -> None:
    if domain.may_list_for(user, person_id):
        return
    if not domain.may_read(user, await offboarding.person_parties(session, person_id)):
        raise Forbidden("Only the person, their manager, IT service or an auditor may see this")


@people_router.get("/people/{person_id}/return-cases", response_model=list[ReturnCaseOut],
                   summary="A person's return cases (self, their manager, IT service, auditor)")
async def person_return_cases(person_id: str, session: SessionDep, user: CurrentUser,
                              today: Today, case_status: StatusFilter = "all", limit: Page = 100,
                              offset: Offset = 0) -> list[ReturnCaseOut]:
    await _may_list(session, user, person_id)
    f = CaseFilter(status=_status(case_status), person_id=person_id)
    return await offboarding.list_cases(session, f, today=today, limit=limit, offset=offset)


@people_router.get("/managers/{manager_id}/return-cases", response_model=list[ReturnCaseOut],
                   summary="Cases a manager must see to: addressed to them, of their staff, "
                   "or of a unit they head (the manager, IT service, auditor)")
async def manager_return_cases(manager_id: str, session: SessionDep, user: CurrentUser,
                               today: Today, case_status: StatusFilter = "open", limit: Page = 100,
                               offset: Offset = 0) -> list[ReturnCaseOut]:
    if not domain.may_list_for(user, manager_id):
        raise Forbidden("A manager's list is for that manager, IT service and auditors")
    return await offboarding.list_for_manager(session, manager_id, status=_status(case_status),
                                              today=today, limit=limit, offset=offset)


# --- losses (rule U9) ---------------------------------------------------------------------


@router.post("/losses", response_model=LossOut, status_code=status.HTTP_201_CREATED,
             summary="Report a device lost (holder, their manager, IT service)")
async def report_loss(body: LossIn, session: SessionDep, user: CurrentUser,
                      settings: SettingsDep, today: Today) -> LossOut:
    loss = await losses.report(session, actor=user, data=body,
                               instruction_url=settings.loss_instruction_url, today=today)
    return LossOut.model_validate(loss)


@router.get("/losses/{loss_id}", response_model=LossOut,
            summary="One loss (holder, reporter, their manager, IT service, auditor)")
async def get_loss(loss_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> LossOut:
    return LossOut.model_validate(await losses.read(session, actor=user, loss_id=loss_id))


@router.get("/losses", response_model=list[LossOut],
            summary="All losses, filterable (IT service, auditor)")
async def list_losses(session: SessionDep, user: Reader,
                      loss_status: Annotated[Literal["open", "found", "all"],
                                             Query(alias="status")] = "all",
                      person_id: str | None = None, limit: Page = 100, offset: Offset = 0
                      ) -> list[LossOut]:
    found = await LossRepository(session).listing(
        status=_status(loss_status), person_id=person_id, limit=limit, offset=offset)
    return [LossOut.model_validate(loss) for loss in found]


@people_router.get("/people/{person_id}/losses", response_model=list[LossOut],
                   summary="A person's losses (self, their manager, IT service, auditor)")
async def person_losses(person_id: str, session: SessionDep, user: CurrentUser,
                        limit: Page = 100, offset: Offset = 0) -> list[LossOut]:
    await _may_list(session, user, person_id)
    found = await LossRepository(session).listing(status=None, person_id=person_id,
                                                  limit=limit, offset=offset)
    return [LossOut.model_validate(loss) for loss in found]
