"""All SQL of the inventory service."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.models import Device


class DeviceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, device_id: uuid.UUID) -> Device | None:
        return await self.session.get(Device, device_id)

    async def by_serial(self, serial_number: str) -> Device | None:
        query = select(Device).where(Device.serial_number == serial_number)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add(self, device: Device) -> None:
        self.session.add(device)
        await self.session.flush()
