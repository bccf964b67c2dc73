"""Request and response bodies of the inventory API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DeviceKind = Literal["phone", "tablet", "sim", "accessory", "desk-phone"]


class DeviceReceipt(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: DeviceKind
    model_id: str = Field(min_length=1, max_length=100, examples=["samsung-xcover7"])
    serial_number: str = Field(min_length=3, max_length=64, examples=["356938035643809"])
    order_id: uuid.UUID | None = None
    intake_exception: str | None = Field(
        default=None, min_length=10, max_length=500,
        description="Required when there is no order (rule O1): why the device enters anyway.",
    )


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: uuid.UUID
    kind: DeviceKind
    model_id: str
    serial_number: str
    order_id: uuid.UUID | None
    owner: str
    state: str
    intake_exception: str | None
    received_by: str
    created_at: datetime
