"""Inventory use cases. Never commits."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain
from services.inventory.models import Device
from services.inventory.repository import DeviceRepository
from services.inventory.schemas import DeviceReceipt
from shared.audit import record_audit
from shared.auth import User
from shared.errors import Conflict, NotFound
from shared.events.catalogue import DeviceReceived
from shared.messaging.outbox import add_event


async def receive_device(session: AsyncSession, *, actor: User, data: DeviceReceipt) -> Device:
    domain.check_intake(data.order_id, data.intake_exception)
    devices = DeviceRepository(session)
    if await devices.by_serial(data.serial_number) is not None:
        raise Conflict(f"A device with serial number {data.serial_number} is already registered")
    device = Device(device_id=uuid.uuid4(), **data.model_dump(), owner="municipality",
                    state="in-stock", received_by=actor.person_id)
    await devices.add(device)
    await record_audit(
        session, actor=actor.person_id, action="device.receive", object_type="device",
        object_id=str(device.device_id), after=data.model_dump(mode="json"),
    )
    await add_event(session, DeviceReceived(
        device_id=device.device_id, kind=data.kind, model_id=data.model_id,
        serial_number=data.serial_number, order_id=data.order_id,
    ), subject=str(device.device_id))
    return device


async def get_device(session: AsyncSession, device_id: uuid.UUID) -> Device:
    device = await DeviceRepository(session).get(device_id)
    if device is None:
        raise NotFound(f"Device {device_id} is not in the register")
    return device
