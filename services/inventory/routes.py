"""Inventory HTTP API (thin: parse, authorise, call the use case). Devices: device_routes.py;
usage and costs (P2): usage_routes.py; support and repair (S1–S5): support_routes.py; fixed
telephony (B4, U1–U3): telephony_routes.py.

Who may do what: IT service manages everything; the auditor reads everything; a department head
reads the devices and subscriptions of the units they head (and below); every other person reads
their own; the MDM's credentials (role `mdm`) reach only the compliance-report endpoint, the
telephony platform's (role `telephony`) only the telephony-report endpoint.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status

from services.inventory import (
    compliance,
    device_routes,
    domain,
    fulfilment,
    service,
    support_routes,
    sweep,
    telephony_routes,
    usage_routes,
)
from services.inventory.repository import (
    ComplianceRepository,
    FulfilmentRepository,
    ModelRepository,
    TelephonyRepository,
)
from services.inventory.schemas import (
    ActivateIn,
    ComplianceReportIn,
    ComplianceReportOut,
    DeviceModelCreate,
    DeviceModelIn,
    DeviceModelOut,
    FindingOut,
    FulfilmentLineOut,
    FulfilmentOut,
    NumbersIn,
    RegisteredOut,
    RequiredAppCreate,
    RequiredAppIn,
    RequiredAppOut,
    SimsIn,
    SubscriptionOut,
    SubscriptionPage,
    SweepOut,
    TermsOut,
)
from shared.auth import User, require_roles
from shared.errors import NotFound
from shared.runtime import SessionDep

router = APIRouter(prefix="/v1")
router.include_router(device_routes.router)
router.include_router(usage_routes.router)
router.include_router(support_routes.router)
router.include_router(telephony_routes.router)
ItService = Annotated[User, Depends(require_roles("it-service"))]
RegisterReader = Annotated[User, Depends(require_roles("it-service", "auditor"))]
Person = Annotated[User, Depends(require_roles(*domain.PERSON_ROLES))]
Mdm = Annotated[User, Depends(require_roles("mdm"))]


@router.post("/models", status_code=status.HTTP_201_CREATED, response_model=DeviceModelOut,
             tags=["models"], summary="Register a device model (IT service; C1)")
async def create_model(body: DeviceModelCreate, session: SessionDep, user: ItService
                       ) -> DeviceModelOut:
    return DeviceModelOut.model_validate(
        await service.create_model(session, actor=user, data=body))


@router.put("/models/{model_id}", response_model=DeviceModelOut, tags=["models"],
            summary="Change a model, e.g. its security-update end date (IT service; C1)")
async def change_model(model_id: str, body: DeviceModelIn, session: SessionDep, user: ItService
                       ) -> DeviceModelOut:
    return DeviceModelOut.model_validate(
        await service.change_model(session, actor=user, model_id=model_id, data=body))


@router.get("/models", response_model=list[DeviceModelOut], tags=["models"],
            summary="Device models")
async def list_models(session: SessionDep, user: Person) -> list[DeviceModelOut]:
    return [DeviceModelOut.model_validate(m) for m in await ModelRepository(session).listing()]


@router.get("/models/{model_id}", response_model=DeviceModelOut, tags=["models"],
            summary="One device model")
async def get_model(model_id: str, session: SessionDep, user: Person) -> DeviceModelOut:
    return DeviceModelOut.model_validate(await service.get_model(session, model_id))


@router.post("/required-apps", status_code=status.HTTP_201_CREATED,
             response_model=RequiredAppOut, tags=["models"],
             summary="Register an app the job needs, with its minimum OS (IT service; C1)")
async def create_app(body: RequiredAppCreate, session: SessionDep, user: ItService
                     ) -> RequiredAppOut:
    return RequiredAppOut.model_validate(await service.create_app(session, actor=user, data=body))


@router.put("/required-apps/{app_id}", response_model=RequiredAppOut, tags=["models"],
            summary="Change a required app's minimum OS (IT service; C1)")
async def put_app(app_id: str, body: RequiredAppIn, session: SessionDep, user: ItService
                  ) -> RequiredAppOut:
    app, _ = await service.put_app(session, actor=user, app_id=app_id, data=body)
    return RequiredAppOut.model_validate(app)


@router.get("/required-apps", response_model=list[RequiredAppOut], tags=["models"],
            summary="Apps the job needs")
async def list_apps(session: SessionDep, user: Person) -> list[RequiredAppOut]:
    return [RequiredAppOut.model_validate(a) for a in await ModelRepository(session).apps()]


@router.get("/terms/ownership", response_model=TermsOut, tags=["devices"],
            summary="rule B1: the ownership terms a holder acknowledges at hand-over")
async def ownership_terms(user: Person) -> TermsOut:
    return TermsOut(version=domain.TERMS_VERSION, text=domain.TERMS_TEXT,
                    sha256=domain.TERMS_SHA256)


@router.post("/sims", response_model=RegisteredOut, tags=["telephony"],
             summary="Register delivered SIM cards by ICCID (IT service)")
async def register_sims(body: SimsIn, session: SessionDep, user: ItService) -> RegisteredOut:
    new, known = await fulfilment.register_sims(session, actor=user.person_id,
                                                iccids=body.iccids)
    return RegisteredOut(registered=new, already_known=known)


@router.post("/numbers", response_model=RegisteredOut, tags=["telephony"],
             summary="Register phone numbers the operator assigned (IT service)")
async def register_numbers(body: NumbersIn, session: SessionDep, user: ItService
                           ) -> RegisteredOut:
    new, known = await fulfilment.register_numbers(session, actor=user.person_id,
                                                   numbers=body.numbers)
    return RegisteredOut(registered=new, already_known=known)


@router.get("/subscriptions", response_model=SubscriptionPage, tags=["telephony"],
            summary="Subscriptions: all (IT service, auditor), a head's units', or your own")
async def list_subscriptions(
    session: SessionDep, user: Person,
    state: Literal["reserved", "active", "terminated"] | None = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SubscriptionPage:
    scope = await service.scope_of(session, user)
    rows = await TelephonyRepository(session).listing(
        holder_person_id=None if scope.everything else scope.person_id,
        unit_ids=None if scope.everything else sorted(scope.unit_ids), state=state,
        after=service.decode_cursor(cursor), limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return SubscriptionPage(
        items=[SubscriptionOut.model_validate(s) for s in rows],
        next_cursor=service.encode_cursor(rows[-1].subscription_id) if more else None)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut,
            tags=["telephony"], summary="One subscription")
async def get_subscription(subscription_id: uuid.UUID, session: SessionDep, user: Person
                           ) -> SubscriptionOut:
    subscription = await TelephonyRepository(session).subscription(subscription_id)
    if subscription is None:
        raise NotFound(f"Subscription {subscription_id} is not in the register")
    domain.check_visible(await service.scope_of(session, user), "subscription",
                         holder_person_id=subscription.holder_person_id,
                         unit_id=subscription.unit_id)
    return SubscriptionOut.model_validate(subscription)


@router.post("/subscriptions/{subscription_id}/activate", response_model=SubscriptionOut,
             tags=["telephony"],
             summary="Hand over a subscription ordered without a device (IT service)")
async def activate_subscription(subscription_id: uuid.UUID, body: ActivateIn,
                                session: SessionDep, user: ItService) -> SubscriptionOut:
    return SubscriptionOut.model_validate(await fulfilment.activate_alone(
        session, actor=user.person_id, subscription_id=subscription_id,
        device_id=body.device_id))


@router.get("/fulfilment/{order_id}", response_model=FulfilmentOut, tags=["fulfilment"],
            summary="What inventory reserved for an approved order, and what still waits")
async def get_fulfilment(order_id: uuid.UUID, session: SessionDep, user: RegisterReader
                         ) -> FulfilmentOut:
    repo = FulfilmentRepository(session)
    order = await repo.order(order_id)
    if order is None:
        raise NotFound(f"Order {order_id} has not reached inventory (not approved yet?)")
    lines = await repo.lines_of(order_id)
    return FulfilmentOut(order_id=order_id, state=order.state, unit_id=order.unit_id,
                         recipient_person_id=order.recipient_person_id,
                         lines=[FulfilmentLineOut.model_validate(line) for line in lines])


@router.post("/mdm/compliance-reports", response_model=ComplianceReportOut, tags=["mdm"],
             summary="The MDM reports device compliance (MDM credentials only; U4, U5)")
async def compliance_report(body: ComplianceReportIn, response: Response, session: SessionDep,
                            user: Mdm) -> ComplianceReportOut:
    result = await compliance.receive_report(session, actor=user.person_id, data=body)
    response.status_code = status.HTTP_200_OK if result.duplicate else status.HTTP_201_CREATED
    return result


@router.get("/compliance/findings", response_model=list[FindingOut], tags=["mdm"],
            summary="U4/U5 findings, newest first (IT service, auditor)")
async def findings(session: SessionDep, user: RegisterReader, open_only: bool = True,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[FindingOut]:
    rows = await ComplianceRepository(session).findings(open_only=open_only, limit=limit)
    return [FindingOut.model_validate(f) for f in rows]


@router.post("/sweeps/consumed", response_model=SweepOut, tags=["consumed"],
             summary="Run the consumed-device sweep now (IT service; C1)")
async def run_sweep(session: SessionDep, user: ItService) -> SweepOut:
    result = await sweep.run_sweep(session, actor=user.person_id)
    return SweepOut(consumed=result.consumed,
                    security_updates_ended=result.security_updates_ended,
                    required_app_unsupported=result.required_app_unsupported)
