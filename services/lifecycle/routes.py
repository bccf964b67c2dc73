"""Lifecycle HTTP API (thin: parse, authorise, call the service): units, people, the HR webhook.

Return cases and losses are in `routes_offboarding.py`, private use in `routes_private_use.py`,
the policy in `routes_policy.py`; `router` carries them all.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status

from services.lifecycle import domain, offboarding, service, webhook
from services.lifecycle.deps import ItService, Offset, Page, Reader, SettingsDep, Today
from services.lifecycle.private_use_repository import SubscriptionRepository
from services.lifecycle.repository import HoldingRepository, HrEventRepository, UnitRepository
from services.lifecycle.routes_offboarding import people_router
from services.lifecycle.routes_offboarding import router as offboarding_router
from services.lifecycle.routes_policy import router as policy_router
from services.lifecycle.routes_private_use import router as private_use_router
from services.lifecycle.schemas import (
    HoldingOut,
    HrEventOut,
    HrReceipt,
    PersonOut,
    UnitCreate,
    UnitIn,
    UnitOut,
)
from shared.auth import CurrentUser, User
from shared.errors import Forbidden
from shared.runtime import SessionDep

router = APIRouter(prefix="/v1")
units = APIRouter(tags=["units"])
hr = APIRouter(tags=["hr"])
people = APIRouter(tags=["people"])


@units.post("/units", status_code=status.HTTP_201_CREATED, response_model=UnitOut,
            summary="Register a unit (IT service)")
async def register_unit(body: UnitCreate, session: SessionDep, user: ItService) -> UnitOut:
    unit = await service.register_unit(session, actor=user, data=body)
    return UnitOut.model_validate(unit)


@units.put("/units/{unit_id}", response_model=UnitOut, summary="Change a unit (IT service)")
async def change_unit(unit_id: str, body: UnitIn, session: SessionDep, user: ItService) -> UnitOut:
    unit = await service.change_unit(session, actor=user, unit_id=unit_id, data=body)
    return UnitOut.model_validate(unit)


@units.get("/units/{unit_id}", response_model=UnitOut, summary="One unit")
async def get_unit(unit_id: str, session: SessionDep, user: CurrentUser) -> UnitOut:
    # The organisation chart is public record within the municipality: any signed-in caller.
    return UnitOut.model_validate(await service.get_unit(session, unit_id))


@units.get("/units", response_model=list[UnitOut], summary="Units, by administration")
async def list_units(session: SessionDep, user: CurrentUser, administration: str | None = None,
                     limit: Page = 100, offset: Offset = 0) -> list[UnitOut]:
    found = await UnitRepository(session).listing(
        administration=administration, limit=limit, offset=offset)
    return [UnitOut.model_validate(u) for u in found]


# --- the HR webhook -------------------------------------------------------------------------


async def _signed_by_hr(request: Request, settings: SettingsDep) -> tuple[str, Any, bytes]:
    """Only HR holds a secret: this, not a bearer token, is the webhook's authentication."""
    body = await request.body()
    webhook_id = webhook.WebhookVerifier(settings.hr_webhook_secrets).verify(
        body, request.headers)
    return webhook_id, webhook.parse(body), body


SignedByHr = Annotated[tuple[str, Any, bytes], Depends(_signed_by_hr)]


@hr.post(
    "/hr/events", response_model=HrReceipt,
    summary="Receive one HR event (HR only: Standard Webhooks signature)",
    description="Hires, transfers, ends of employment and the organisation's units, signed "
    "with Standard Webhooks. Answered 200 only after the change is committed; the same "
    "`webhook-id` again is answered 200 with `duplicate: true` and changes nothing. See "
    "docs/lifecycle.md for the whole contract, ordering rules and a signing example.",
    responses={401: {"description": "Unsigned, badly signed, or timestamp not within 5 min"},
               422: {"description": "Signed, but not a valid HR event; not applied"}},
    openapi_extra=webhook.openapi_extra(),
)
async def receive_hr_event(delivery: SignedByHr, session: SessionDep) -> HrReceipt:
    webhook_id, event, body = delivery
    return await service.receive_hr_event(session, webhook_id=webhook_id, event=event,
                                          payload=json.loads(body))


@hr.get("/hr/events", response_model=list[HrEventOut],
        summary="HR deliveries received, newest first (IT service, auditor)")
async def list_hr_events(session: SessionDep, user: Reader, subject: str | None = None,
                         outcome: str | None = None, limit: Page = 100, offset: Offset = 0
                         ) -> list[HrEventOut]:
    found = await HrEventRepository(session).listing(subject=subject, outcome=outcome,
                                                     limit=limit, offset=offset)
    return [HrEventOut.model_validate(e) for e in found]


# --- people -----------------------------------------------------------------------------------


async def _check_person(session: SessionDep, user: User, person_id: str) -> None:
    if not domain.may_read(user, await offboarding.person_parties(session, person_id)):
        raise Forbidden("Only the person, their manager, IT service or an auditor may see this")


@people.get("/people/{person_id}", response_model=PersonOut,
            summary="A person as HR last told us (self, manager, IT service, auditor)")
async def get_person(person_id: str, session: SessionDep, user: CurrentUser, today: Today
                     ) -> PersonOut:
    await _check_person(session, user, person_id)
    person = await service.get_person(session, person_id)
    fields = {name: getattr(person, name) for name in PersonOut.model_fields if name != "status"}
    return PersonOut(**fields, status=domain.employment_status(person.last_day, today))


@people.get("/people/{person_id}/holdings", response_model=list[HoldingOut],
            summary="Devices the person holds, from inventory's events")
async def get_holdings(person_id: str, session: SessionDep, user: CurrentUser
                       ) -> list[HoldingOut]:
    await _check_person(session, user, person_id)
    held = await HoldingRepository(session).held_by(person_id)
    on = await SubscriptionRepository(session).active_on_devices([h.device_id for h in held])
    return [HoldingOut.model_validate(h).model_copy(update={"subscription_ids": on[h.device_id]})
            for h in held]


router.include_router(units)
router.include_router(hr)
router.include_router(people)
router.include_router(people_router)
router.include_router(offboarding_router)
router.include_router(private_use_router)
router.include_router(policy_router)
