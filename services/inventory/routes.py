"""Inventory HTTP API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from services.inventory import service
from services.inventory.schemas import DeviceOut, DeviceReceipt
from shared.auth import User, require_roles
from shared.runtime import SessionDep

router = APIRouter(prefix="/v1", tags=["devices"])
ItService = Annotated[User, Depends(require_roles("it-service"))]
RegisterReader = Annotated[User, Depends(require_roles("it-service", "auditor"))]


@router.post("/devices", status_code=status.HTTP_201_CREATED, response_model=DeviceOut,
             summary="Record a received device (IT service)")
async def receive_device(body: DeviceReceipt, session: SessionDep, user: ItService) -> DeviceOut:
    return DeviceOut.model_validate(await service.receive_device(session, actor=user, data=body))


@router.get("/devices/{device_id}", response_model=DeviceOut, summary="One device")
async def get_device(device_id: uuid.UUID, session: SessionDep, user: RegisterReader
                     ) -> DeviceOut:
    return DeviceOut.model_validate(await service.get_device(session, device_id))
