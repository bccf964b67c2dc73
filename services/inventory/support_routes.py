"""Inventory HTTP API, support and repair (rules S1–S5): channels, cases, the apps' own support,
the data-loss warning and repairs (thin: parse, authorise, call the use case). Included by
routes.py under /v1.

Who may do what: every person reads the channels, the apps' support and the warning, opens cases
for themselves and reads their own; IT service opens cases for anyone, closes them, keeps the
apps' support and takes devices in for repair; the auditor reads everything. A repair is read by
IT service, the auditor, the device's holder and the head of its unit.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response, status

from services.inventory import domain, domain_support, policy, repairs, service, support
from services.inventory.repository import RepairRepository, SupportRepository
from services.inventory.schemas import DeviceOut
from services.inventory.support_schemas import (
    AppSupportIn,
    AppSupportOut,
    CaseIn,
    CaseOut,
    ChannelsOut,
    CloseIn,
    RepairIntakeIn,
    RepairOut,
    RepairReplaceIn,
    RepairResultOut,
    RepairReturnIn,
    RepairState,
    WarningOut,
)
from shared.auth import User, require_roles
from shared.errors import NotFound
from shared.runtime import SessionDep

router = APIRouter(tags=["support and repair"])
ItService = Annotated[User, Depends(require_roles("it-service"))]
RegisterReader = Annotated[User, Depends(require_roles("it-service", "auditor"))]
Person = Annotated[User, Depends(require_roles(*domain.PERSON_ROLES))]
AppId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9._-]*$")]


@router.get("/support/channels", response_model=ChannelsOut,
            summary="rule S1: where to get personal support")
async def channels(session: SessionDep, user: Person) -> ChannelsOut:
    return await policy.support_channels(session)


@router.get("/support/repair-warning", response_model=WarningOut,
            summary="rule S4: the warning a holder confirms before a repair")
async def repair_warning(user: Person) -> WarningOut:
    return WarningOut(version=domain_support.WARNING_VERSION, text=domain_support.WARNING_TEXT,
                      sha256=domain_support.WARNING_SHA256)


@router.get("/support/apps", response_model=list[AppSupportOut],
            summary="rule S3: the apps and where to turn for how each one works")
async def list_apps(session: SessionDep, user: Person) -> list[AppSupportOut]:
    return [AppSupportOut.model_validate(a) for a in await SupportRepository(session).apps()]


@router.put("/support/apps/{app_id}", response_model=AppSupportOut,
            summary="Record or change an app's own support (IT service; S3)")
async def put_app(app_id: AppId, body: AppSupportIn, response: Response, session: SessionDep,
                  user: ItService) -> AppSupportOut:
    app, created = await support.put_app(session, actor=user.person_id, app_id=app_id,
                                         data=body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return AppSupportOut.model_validate(app)


@router.post("/support/cases", status_code=status.HTTP_201_CREATED, response_model=CaseOut,
             summary="Open a support case: accepted (S2), routed to the app's support (S3) or "
                     "refused (S5)")
async def open_case(body: CaseIn, session: SessionDep, user: Person) -> CaseOut:
    case = await support.open_case(session, user=user, data=body)
    return support.case_out(case, await policy.support_channels(session))


@router.get("/support/cases", response_model=list[CaseOut],
            summary="Support cases: your own; IT service and the auditor all")
async def list_cases(session: SessionDep, user: Person, person_id: str | None = None,
                     state: Literal["open", "closed", "routed", "refused"] | None = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[CaseOut]:
    if not user.roles & support.READ_ALL:
        person_id = user.person_id  # a filter never widens the caller's view
    rows = await SupportRepository(session).cases(person_id=person_id, state=state, limit=limit)
    channels = await policy.support_channels(session)
    return [support.case_out(c, channels) for c in rows]


@router.get("/support/cases/{case_id}", response_model=CaseOut, summary="One support case")
async def get_case(case_id: uuid.UUID, session: SessionDep, user: Person) -> CaseOut:
    case = await support.get_case(session, user=user, case_id=case_id)
    return support.case_out(case, await policy.support_channels(session))


@router.post("/support/cases/{case_id}/close", response_model=CaseOut,
             summary="Close an accepted case (IT service)")
async def close_case(case_id: uuid.UUID, body: CloseIn, session: SessionDep, user: ItService
                     ) -> CaseOut:
    case = await support.close_case(session, user=user, case_id=case_id,
                                    resolution=body.resolution)
    return support.case_out(case, await policy.support_channels(session))


@router.post("/repairs", status_code=status.HTTP_201_CREATED, response_model=RepairResultOut,
             summary="Take a held device in for repair, after the holder confirmed the "
                     "data-loss warning (IT service; S4)")
async def repair_intake(body: RepairIntakeIn, session: SessionDep, user: ItService
                        ) -> RepairResultOut:
    repair = await repairs.intake(session, actor=user.person_id, data=body)
    device = await service.get_device(session, repair.device_id)
    return RepairResultOut(repair=RepairOut.model_validate(repair),
                           device=DeviceOut.model_validate(device))


@router.get("/repairs", response_model=list[RepairOut],
            summary="Repairs, newest first (IT service, auditor)")
async def list_repairs(session: SessionDep, user: RegisterReader,
                       state: RepairState | None = None,
                       limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[RepairOut]:
    rows = await RepairRepository(session).listing(state=state, limit=limit)
    return [RepairOut.model_validate(r) for r in rows]


@router.get("/repairs/{repair_id}", response_model=RepairOut,
            summary="One repair (IT service, auditor, the holder, the head of its unit)")
async def get_repair(repair_id: uuid.UUID, session: SessionDep, user: Person) -> RepairOut:
    repair = await RepairRepository(session).get(repair_id)
    if repair is None:
        raise NotFound(f"Repair {repair_id} does not exist")
    domain.check_visible(await service.scope_of(session, user), "repair",
                         holder_person_id=repair.holder_person_id, unit_id=repair.unit_id,
                         holder_unit_id=repair.holder_unit_id)
    return RepairOut.model_validate(repair)


@router.post("/repairs/{repair_id}/return", response_model=RepairResultOut,
             summary="Give the repaired device back to the same holder (IT service; U8, B1)")
async def repair_return(repair_id: uuid.UUID, body: RepairReturnIn, session: SessionDep,
                        user: ItService) -> RepairResultOut:
    repair, device = await repairs.return_to_holder(
        session, actor=user.person_id, repair_id=repair_id, acknowledgement=body.acknowledgement)
    return RepairResultOut(repair=RepairOut.model_validate(repair),
                           device=DeviceOut.model_validate(device))


@router.post("/repairs/{repair_id}/replace", response_model=RepairResultOut,
             summary="Give the holder a replacement instead: the device in repair is returned "
                     "and the replacement issued anew (IT service; U8, B1)")
async def repair_replace(repair_id: uuid.UUID, body: RepairReplaceIn, session: SessionDep,
                         user: ItService) -> RepairResultOut:
    repair, old, new = await repairs.replace(
        session, actor=user.person_id, repair_id=repair_id,
        replacement_device_id=body.replacement_device_id, acknowledgement=body.acknowledgement)
    return RepairResultOut(repair=RepairOut.model_validate(repair),
                           device=DeviceOut.model_validate(old),
                           replacement=DeviceOut.model_validate(new))
