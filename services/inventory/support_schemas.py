"""Request and response bodies of support (S1–S5) and repair (S4)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.inventory.domain_support import Category
from services.inventory.schemas import AcknowledgementIn, DeviceOut


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ChannelsOut(BaseModel):
    """rule S1: where a person gets personal support."""

    portal: str
    phone: str
    visit: str


class AppSupportIn(_In):
    name: str = Field(min_length=1, max_length=100, examples=["Lifecare Mobil Omsorg"])
    owner: str = Field(min_length=1, max_length=200, examples=["Socialförvaltningen"])
    contact: str = Field(min_length=3, max_length=500,
                         description="rule S3: where to turn, in words a person understands",
                         examples=["Systemförvaltningen Lifecare, vardagar 8–16"])
    url: str | None = Field(default=None, max_length=500)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200)


class AppSupportOut(AppSupportIn):
    model_config = ConfigDict(from_attributes=True)

    app_id: str
    updated_at: datetime


class CaseIn(_In):
    category: Category = Field(description=(
        "network-access, email, calendar, app-access, device-fault: central IT (S2, S4); "
        "app-usage: the app's own support (S3, give app_id); private-account, "
        "private-service: not supported (S5)"))
    description: str = Field(min_length=3, max_length=4000)
    person_id: str | None = Field(default=None, min_length=1, max_length=64,
                                  description="Whom the case is for (IT service only; "
                                              "default: you)")
    device_id: uuid.UUID | None = None
    app_id: str | None = Field(default=None, max_length=100)


class CaseOut(BaseModel):
    case_id: uuid.UUID
    person_id: str
    opened_by: str
    category: str
    description: str
    device_id: uuid.UUID | None
    app_id: str | None
    outcome: Literal["accepted", "routed", "refused"]
    rule: str
    state: Literal["open", "closed", "routed", "refused"]
    message: str = Field(description="What happens now, for the person")
    routed_to: dict[str, Any] | None = Field(description="rule S3: the app's own support")
    resolution: str | None
    opened_at: datetime
    closed_at: datetime | None
    channels: ChannelsOut = Field(description="rule S1: where to get personal support")


class CloseIn(_In):
    resolution: str = Field(min_length=3, max_length=2000)


class WarningOut(BaseModel):
    version: str
    text: str
    sha256: str = Field(description="Send it back in the confirmation: proves which text was "
                                    "shown")


class WarningConfirmationIn(_In):
    """rule S4: the holder confirms they were warned the repair may erase the device."""

    person_id: str = Field(min_length=1, max_length=64)
    confirmed: bool
    text_sha256: str = Field(min_length=64, max_length=64)
    confirmed_at: datetime | None = None


class RepairIntakeIn(_In):
    device_id: uuid.UUID
    fault: str = Field(min_length=3, max_length=2000)
    case_id: uuid.UUID | None = None
    warning: WarningConfirmationIn


class RepairReturnIn(_In):
    acknowledgement: AcknowledgementIn = Field(description="rule B1, as at every hand-over")


class RepairReplaceIn(RepairReturnIn):
    replacement_device_id: uuid.UUID


# `abandoned`: the device was reported lost or consumed while in repair (rules U9, C1). It has no
# repair-completed (whose v1 outcomes stay returned-to-holder | replaced): device-lost or
# device-consumed announces it.
RepairState = Literal["in-repair", "returned-to-holder", "replaced", "abandoned"]


class RepairOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    repair_id: uuid.UUID
    device_id: uuid.UUID
    case_id: uuid.UUID | None
    fault: str
    holder_person_id: str | None
    holder_unit_id: str | None
    unit_id: str | None
    warning_version: str
    warning_confirmed_by: str
    warning_confirmed_at: datetime
    state: RepairState
    replacement_device_id: uuid.UUID | None
    opened_by: str
    opened_at: datetime
    closed_by: str | None
    closed_at: datetime | None


class RepairResultOut(BaseModel):
    repair: RepairOut
    device: DeviceOut
    replacement: DeviceOut | None = None

