"""Inventory HTTP API, devices: receipt, import, listing, issuing, returns (thin: parse,
authorise, call the use case). Included by routes.py."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status

from services.inventory import csv_import, domain, issuing, service
from services.inventory.repository import AcknowledgementRepository, DeviceFilter
from services.inventory.schemas import (
    AcknowledgementOut,
    BulkReceipt,
    BulkReceiptOut,
    CheckInIn,
    DeviceOut,
    DevicePage,
    DeviceReceipt,
    HandOverIn,
    HistoryEntry,
    ImportOut,
    IssueIn,
    IssueOut,
    ModelKind,
    RepairIn,
    RestockIn,
    SubscriptionOut,
    Tier,
)
from shared.auth import User, require_roles
from shared.errors import RuleViolation
from shared.runtime import SessionDep

router = APIRouter(tags=["devices"])  # mounted under /v1 by routes.py
ItService = Annotated[User, Depends(require_roles("it-service"))]
Person = Annotated[User, Depends(require_roles(*domain.PERSON_ROLES))]
MAX_IMPORT_BYTES = 64 * 1024 * 1024


@router.post("/devices", status_code=status.HTTP_201_CREATED, response_model=DeviceOut,
             summary="Register a delivered device (IT service)")
async def receive_device(body: DeviceReceipt, session: SessionDep, user: ItService) -> DeviceOut:
    return DeviceOut.model_validate(await service.receive_device(session, actor=user, data=body))


@router.post("/devices/bulk", status_code=status.HTTP_201_CREATED, response_model=BulkReceiptOut,
             summary="Register a delivery of many devices at once, all or none (IT service)")
async def receive_bulk(body: BulkReceipt, session: SessionDep, user: ItService
                       ) -> BulkReceiptOut:
    ids = await service.receive_bulk(session, actor=user, data=body)
    return BulkReceiptOut(received=len(ids), device_ids=ids)


@router.post(
    "/devices/import", status_code=status.HTTP_201_CREATED, response_model=ImportOut,
    summary="Import an existing device list as CSV, all rows or none (IT service)",
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {
        "type": "string",
        "example": "serial_number,model_id,imei,os_version\nR58T90A,samsung-xcover7,"
                   "356938035643809,14\n"}}}}},
    description="Columns: " + ", ".join(csv_import.COLUMNS) + ". An `issued` row needs "
                "`terms_acknowledged_at` (ISO date or date-time: when the holder acknowledged the "
                "ownership terms, rule B1; a date is the start of that day in Europe/Stockholm) "
                "and, for a shared device, `acknowledged_by`; the acknowledgement is stored and "
                "the device enrolled in the MDM (rule B2). A refused import answers 422 with "
                "`errors`: the line number and reason of every bad row; an MDM that does not "
                "answer, 503. Either way nothing is imported.")
async def import_devices(request: Request, session: SessionDep, user: ItService,
                         filename: Annotated[str, Query(max_length=200)] = "upload.csv"
                         ) -> ImportOut:
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise RuleViolation("The file is larger than 64 MB: use `kommunmobil inventory import`")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RuleViolation("The file is not UTF-8 text") from exc
    result = await csv_import.import_devices(session, actor=user.person_id, source=filename,
                                             lines=text.splitlines())
    return ImportOut(imported=result.imported, issued=result.issued)


@router.get("/devices", response_model=DevicePage,
            summary="Devices, filtered; IT service and auditors see all, a head their units', "
                    "everyone else their own")
async def list_devices(
    session: SessionDep, user: Person,
    state: domain.DeviceState | None = None, holder_person_id: str | None = None,
    holder_unit_id: str | None = None, unit_id: str | None = None, model_id: str | None = None,
    kind: ModelKind | None = None, tier: Tier | None = None,
    security_updates_before: Annotated[date | None, Query(
        description="rule C1: devices whose model's security updates end before this day")] = None,
    imei: str | None = None, serial_number: str | None = None, order_id: uuid.UUID | None = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DevicePage:
    where = DeviceFilter(state, holder_person_id, holder_unit_id, unit_id, model_id, kind, tier,
                         security_updates_before, imei, serial_number, order_id)
    devices, next_cursor = await service.list_devices(session, user=user, where=where,
                                                      cursor=cursor, limit=limit)
    return DevicePage(items=[DeviceOut.model_validate(d) for d in devices],
                      next_cursor=next_cursor)


@router.get("/devices/{device_id}", response_model=DeviceOut, summary="One device")
async def get_device(device_id: uuid.UUID, session: SessionDep, user: Person) -> DeviceOut:
    scope = await service.scope_of(session, user)
    return DeviceOut.model_validate(await service.get_device(session, device_id, scope))


@router.get("/devices/{device_id}/history", response_model=list[HistoryEntry],
            summary="Every change of one device, oldest first")
async def device_history(device_id: uuid.UUID, session: SessionDep, user: Person
                         ) -> list[dict[str, Any]]:
    scope = await service.scope_of(session, user)
    return await service.device_history(session, device_id, scope)


@router.get("/devices/{device_id}/acknowledgements", response_model=list[AcknowledgementOut],
            summary="rule B1: the ownership acknowledgements stored for one device")
async def acknowledgements(device_id: uuid.UUID, session: SessionDep, user: Person
                           ) -> list[AcknowledgementOut]:
    await service.get_device(session, device_id, await service.scope_of(session, user))
    rows = await AcknowledgementRepository(session).of_device(device_id)
    return [AcknowledgementOut.model_validate(a) for a in rows]


@router.post("/devices/{device_id}/issue", response_model=IssueOut,
             summary="Hand a device over to one person or one unit (IT service; U8, B1, B2)",
             description="On one ground (rule O3): the approved order the device is reserved "
                         "for, the lost device it replaces (`replaces_lost_device_id`, rule U9) "
                         "or IT service's recorded exception (`exception_reason`). Without one, "
                         "or with two, 422 and nothing changes.")
async def issue(device_id: uuid.UUID, body: IssueIn, session: SessionDep, user: ItService
                ) -> IssueOut:
    device, acknowledgement, subscriptions = await issuing.issue(
        session, actor=user.person_id, device_id=device_id, data=body)
    return IssueOut(device=DeviceOut.model_validate(device),
                    acknowledgement=AcknowledgementOut.model_validate(acknowledgement),
                    subscriptions=[SubscriptionOut.model_validate(s) for s in subscriptions])


@router.post("/devices/{device_id}/check-in", response_model=DeviceOut,
             summary="Take a device back; the MDM wipes it before it goes to stock (IT service)")
async def check_in(device_id: uuid.UUID, body: CheckInIn, session: SessionDep, user: ItService
                   ) -> DeviceOut:
    return DeviceOut.model_validate(await issuing.check_in(
        session, actor=user.person_id, device_id=device_id, data=body))


@router.post("/devices/{device_id}/restock", response_model=DeviceOut,
             summary="Back to stock once the wipe is confirmed (IT service)")
async def restock(device_id: uuid.UUID, body: RestockIn, session: SessionDep, user: ItService
                  ) -> DeviceOut:
    return DeviceOut.model_validate(await issuing.restock(
        session, actor=user.person_id, device_id=device_id, data=body))


@router.post("/devices/{device_id}/repair", response_model=DeviceOut,
             summary="Send a device nobody holds to repair (IT service); a held device is "
                     "taken in with POST /v1/repairs (S4)")
async def repair(device_id: uuid.UUID, body: RepairIn, session: SessionDep, user: ItService
                 ) -> DeviceOut:
    return DeviceOut.model_validate(await issuing.send_to_repair(
        session, actor=user.person_id, device_id=device_id))


@router.post("/devices/{device_id}/hand-over", response_model=DeviceOut,
             summary="Hand a consumed device to the supplier, with the erasure confirmation "
                     "(IT service; C2)")
async def hand_over(device_id: uuid.UUID, body: HandOverIn, session: SessionDep,
                    user: ItService) -> DeviceOut:
    return DeviceOut.model_validate(await issuing.hand_over(
        session, actor=user.person_id, device_id=device_id, data=body))


@router.post("/devices/{device_id}/wipe", response_model=DeviceOut,
             summary="Erase a lost device remotely through the MDM (IT service; U9)")
async def remote_wipe(device_id: uuid.UUID, session: SessionDep, user: ItService) -> DeviceOut:
    return DeviceOut.model_validate(await issuing.remote_wipe(
        session, actor=user.person_id, device_id=device_id))
