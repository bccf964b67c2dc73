"""Inventory use cases of the register: models, required apps, stock receipt, reading. Never
commits. Issuing and returns: issuing.py; orders: fulfilment.py; MDM: compliance.py; C1: sweep.py.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain
from services.inventory.fulfilment import fill_backorders
from services.inventory.models import Device, DeviceModel, RequiredApp
from services.inventory.repository import (
    DeviceFilter,
    DeviceRepository,
    FulfilmentRepository,
    HistoryRepository,
    ModelRepository,
    UnitRepository,
)
from services.inventory.schemas import (
    BulkReceipt,
    DeviceItem,
    DeviceModelCreate,
    DeviceModelIn,
    DeviceReceipt,
    RequiredAppCreate,
    RequiredAppIn,
)
from shared.audit import record_audit
from shared.auth import User
from shared.errors import Conflict, NotFound, RuleViolation
from shared.events.catalogue import DeviceReceived
from shared.messaging.outbox import add_events


async def scope_of(session: AsyncSession, user: User) -> domain.Scope:
    headed = (await UnitRepository(session).headed_by(user.person_id)
              if "department-head" in user.roles else [])
    return domain.scope_for(user.person_id, user.roles, headed)


# --- models and apps (rule C1) -----------------------------------------------------------------


async def create_model(session: AsyncSession, *, actor: User, data: DeviceModelCreate
                       ) -> DeviceModel:
    models = ModelRepository(session)
    if await models.get(data.model_id) is not None:
        raise Conflict(f"Model {data.model_id} is already registered")
    model = DeviceModel(**data.model_dump(), max_os_key=domain.os_key(data.max_os_version))
    await models.add(model)
    await record_audit(session, actor=actor.person_id, action="model.create",
                       object_type="model", object_id=model.model_id,
                       after=data.model_dump(mode="json"))
    return model


async def change_model(session: AsyncSession, *, actor: User, model_id: str,
                       data: DeviceModelIn) -> DeviceModel:
    model = await ModelRepository(session).get(model_id, for_update=True)
    if model is None:
        raise NotFound(f"Model {model_id} is not registered")
    if data.kind != model.kind:
        raise Conflict(f"Model {model_id} is a {model.kind}; a model's kind never changes")
    before = DeviceModelIn.model_validate(model, from_attributes=True).model_dump(mode="json")
    for key, value in data.model_dump().items():
        setattr(model, key, value)
    model.max_os_key = domain.os_key(data.max_os_version)
    model.updated_at = datetime.now(UTC)
    await record_audit(session, actor=actor.person_id, action="model.change",
                       object_type="model", object_id=model_id, before=before,
                       after=data.model_dump(mode="json"))
    return model


async def get_model(session: AsyncSession, model_id: str) -> DeviceModel:
    model = await ModelRepository(session).get(model_id)
    if model is None:
        raise NotFound(f"Model {model_id} is not registered")
    return model


async def put_app(session: AsyncSession, *, actor: User, app_id: str, data: RequiredAppIn
                  ) -> tuple[RequiredApp, bool]:
    """Create or change a required app; True when it was created."""
    models = ModelRepository(session)
    app = await models.get_app(app_id, for_update=True)
    key = domain.os_key(data.min_os_version)
    before = None
    if app is None:
        app = RequiredApp(app_id=app_id, **data.model_dump(), min_os_key=key)
        await models.add(app)
    else:
        before = RequiredAppIn.model_validate(app, from_attributes=True).model_dump(mode="json")
        app.name, app.platform, app.min_os_version = data.name, data.platform, data.min_os_version
        app.min_os_key, app.updated_at = key, datetime.now(UTC)
    await record_audit(session, actor=actor.person_id,
                       action="app.create" if before is None else "app.change",
                       object_type="required-app", object_id=app_id, before=before,
                       after=data.model_dump(mode="json"))
    return app, before is None


async def create_app(session: AsyncSession, *, actor: User, data: RequiredAppCreate
                     ) -> RequiredApp:
    if await ModelRepository(session).get_app(data.app_id) is not None:
        raise Conflict(f"App {data.app_id} is already registered")
    app, _ = await put_app(session, actor=actor, app_id=data.app_id,
                           data=RequiredAppIn(**data.model_dump(exclude={"app_id"})))
    return app


# --- stock receipt -----------------------------------------------------------------------------


def _device_row(item: DeviceItem, model: DeviceModel, *, order_id: uuid.UUID | None,
                intake_exception: str | None, actor: str) -> dict[str, Any]:
    imei = domain.check_device_identity(model.kind, item.imei)
    if item.os_version is not None:
        domain.os_key(item.os_version)
    return {"device_id": uuid.uuid4(), "kind": model.kind, "model_id": model.model_id,
            "imei": imei, "serial_number": item.serial_number, "os_version": item.os_version,
            "owner": "municipality", "state": "in-stock", "order_id": order_id,
            "intake_exception": intake_exception, "received_by": actor}


async def receive_many(session: AsyncSession, *, actor: User, items: Sequence[DeviceItem],
                       order_id: uuid.UUID | None, intake_exception: str | None
                       ) -> list[dict[str, Any]]:
    """Register delivered devices, all or none, and publish device-received for each."""
    fulfilment = FulfilmentRepository(session)
    # Locked: two deliveries against one order at once must not both fit in it.
    order = await fulfilment.order(order_id, for_update=True) if order_id else None
    ordered = received = 0
    if order is not None:
        ordered = sum(1 for line in await fulfilment.lines_of(order.order_id)
                      if line.kind in ("phone", "tablet"))
        received = await DeviceRepository(session).count_received_for(order.order_id)
    domain.check_intake_order(order_id, order.state if order else None, intake_exception,
                              ordered=ordered, received=received, arriving=len(items))
    models = await ModelRepository(session).many([i.model_id for i in items])
    rows = []
    for number, item in enumerate(items, start=1):
        model = models.get(item.model_id)
        if model is None:
            raise RuleViolation(f"Device {number}: model {item.model_id} is not registered; "
                                "register the model first")
        try:
            rows.append(_device_row(item, model, order_id=order_id,
                                    intake_exception=intake_exception, actor=actor.person_id))
        except RuleViolation as exc:
            raise RuleViolation(f"Device {number}: {exc.detail}") from exc
    await _refuse_duplicates(session, rows)
    await DeviceRepository(session).insert_many(rows)
    await record_received(session, actor.person_id, rows, models)
    await fill_backorders(session, models=[r["model_id"] for r in rows], for_order=order_id)
    return rows


async def _refuse_duplicates(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    serials = [r["serial_number"] for r in rows]
    imeis = [r["imei"] for r in rows if r["imei"]]
    if len(set(serials)) != len(serials) or len(set(imeis)) != len(imeis):
        raise Conflict("The same serial number or IMEI appears twice in this delivery")
    taken_serials, taken_imeis = await DeviceRepository(session).taken(serials=serials,
                                                                       imeis=imeis)
    if taken_serials or taken_imeis:
        taken = sorted(taken_serials | taken_imeis)
        raise Conflict(f"Already registered: {', '.join(taken[:10])}"
                       + (f" and {len(taken) - 10} more" if len(taken) > 10 else ""))


async def record_received(session: AsyncSession, actor: str, rows: Sequence[dict[str, Any]],
                          models: dict[str, DeviceModel], *, action: str = "device.receive",
                          extra: Mapping[uuid.UUID, dict[str, Any]] | None = None) -> None:
    """History (audit) and device-received for freshly inserted devices, in bulk. `extra` adds
    to a device's entry (an imported issued device: its acknowledgement and enrolment)."""
    extra = extra or {}
    await HistoryRepository(session).add_many([
        {"actor": actor, "action": action, "object_type": "device",
         "object_id": str(r["device_id"]), "before": None,
         "after": {"state": r["state"], "model_id": r["model_id"], "serial_number":
                   r["serial_number"], "imei": r["imei"], "order_id": _text(r["order_id"]),
                   "intake_exception": r["intake_exception"],
                   "holder_person_id": r.get("holder_person_id"),
                   "holder_unit_id": r.get("holder_unit_id"), "unit_id": r.get("unit_id"),
                   **extra.get(r["device_id"], {})}}
        for r in rows])
    await add_events(session, [
        (DeviceReceived(device_id=r["device_id"], kind=r["kind"], model_id=r["model_id"],
                        serial_number=r["serial_number"], order_id=r["order_id"],
                        imei=r["imei"], tier=models[r["model_id"]].tier),  # type: ignore[arg-type]
         str(r["device_id"]))
        for r in rows])


def _text(value: object) -> str | None:
    return None if value is None else str(value)


async def receive_device(session: AsyncSession, *, actor: User, data: DeviceReceipt) -> Device:
    rows = await receive_many(session, actor=actor, items=[data], order_id=data.order_id,
                              intake_exception=data.intake_exception)
    return await get_device(session, rows[0]["device_id"])


async def receive_bulk(session: AsyncSession, *, actor: User, data: BulkReceipt
                       ) -> list[uuid.UUID]:
    rows = await receive_many(session, actor=actor, items=data.devices, order_id=data.order_id,
                              intake_exception=data.intake_exception)
    return [r["device_id"] for r in rows]


# --- reading -----------------------------------------------------------------------------------


async def get_device(session: AsyncSession, device_id: uuid.UUID,
                     scope: domain.Scope | None = None) -> Device:
    device = await DeviceRepository(session).get(device_id)
    if device is None:
        raise NotFound(f"Device {device_id} is not in the register")
    if scope is not None:
        domain.check_visible(scope, "device", holder_person_id=device.holder_person_id,
                             unit_id=device.unit_id, holder_unit_id=device.holder_unit_id)
    return device


def encode_cursor(last: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last.bytes).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> uuid.UUID | None:
    if not cursor:
        return None
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError as exc:
        raise RuleViolation("The cursor is not one this API handed out") from exc


async def list_devices(session: AsyncSession, *, user: User, where: DeviceFilter,
                       cursor: str | None, limit: int) -> tuple[Sequence[Device], str | None]:
    scope = await scope_of(session, user)
    devices = await DeviceRepository(session).page(where, scope, after=decode_cursor(cursor),
                                                   limit=limit + 1)
    more = len(devices) > limit
    devices = devices[:limit]
    return devices, encode_cursor(devices[-1].device_id) if more else None


async def device_history(session: AsyncSession, device_id: uuid.UUID, scope: domain.Scope
                         ) -> list[dict[str, Any]]:
    await get_device(session, device_id, scope)
    return await HistoryRepository(session).of("device", str(device_id))
