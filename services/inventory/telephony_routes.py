"""Inventory HTTP API, fixed telephony (rules B4, U1, U2, U3): the platform's reports and each
person's readiness (thin: parse, authorise, call the use case). Included by routes.py under /v1.

Who may do what: the telephony platform's credentials (role `telephony`) post reports and reach
nothing else; every person reads their own checklist; a manager their staff's; IT service and the
auditor everyone's; IT service lists extensions and pulls from the platform now.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from services.inventory import domain, readiness
from services.inventory.repository import ExtensionRepository
from services.inventory.telephony_schemas import (
    ExtensionOut,
    ReadinessOut,
    StaffReadinessOut,
    TelephonyReportIn,
    TelephonyReportOut,
)
from shared.auth import User, require_roles
from shared.runtime import SessionDep

router = APIRouter(tags=["fixed telephony"])
ItService = Annotated[User, Depends(require_roles("it-service"))]
RegisterReader = Annotated[User, Depends(require_roles("it-service", "auditor"))]
Person = Annotated[User, Depends(require_roles(*domain.PERSON_ROLES))]
Platform = Annotated[User, Depends(require_roles("telephony"))]


@router.post("/telephony/reports", response_model=TelephonyReportOut,
             summary="The telephony platform reports extensions' forwarding and voicemail "
                     "(telephony credentials only; B4, U2, U3)")
async def report(body: TelephonyReportIn, response: Response, session: SessionDep,
                 user: Platform) -> TelephonyReportOut:
    result = await readiness.receive_report(session, actor=user.person_id, data=body)
    response.status_code = status.HTTP_200_OK if result.duplicate else status.HTTP_201_CREATED
    return result


@router.post("/telephony/sync", response_model=TelephonyReportOut,
             summary="Pull the telephony platform's current state now (IT service)")
async def sync(session: SessionDep, user: ItService) -> TelephonyReportOut:
    return await readiness.pull(session, actor=user.person_id)


@router.get("/telephony/extensions", response_model=list[ExtensionOut],
            summary="Extensions, fixed and mobile (IT service, auditor; B4)")
async def extensions(session: SessionDep, user: RegisterReader, person_id: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[ExtensionOut]:
    rows = await ExtensionRepository(session).listing(person_id=person_id, limit=limit)
    return [ExtensionOut.model_validate(e) for e in rows]


@router.get("/telephony/readiness/me", response_model=ReadinessOut,
            summary="Your own telephony checklist (U2, U3)")
async def my_readiness(session: SessionDep, user: Person) -> ReadinessOut:
    return await readiness.person_readiness(session, user=user, person_id=user.person_id)


@router.get("/telephony/readiness/staff", response_model=StaffReadinessOut,
            summary="Your staff's telephony readiness and what is missing (U1); IT service and "
                    "the auditor may name any manager")
async def staff_readiness(session: SessionDep, user: Person,
                          manager_id: Annotated[str | None, Query(max_length=64)] = None
                          ) -> StaffReadinessOut:
    return await readiness.staff_readiness(session, user=user, manager_id=manager_id)


@router.get("/telephony/readiness/people/{person_id}", response_model=ReadinessOut,
            summary="One person's telephony checklist (the person, their manager, IT service, "
                    "the auditor; U1)")
async def person_readiness(person_id: str, session: SessionDep, user: Person) -> ReadinessOut:
    return await readiness.person_readiness(session, user=user, person_id=person_id)
