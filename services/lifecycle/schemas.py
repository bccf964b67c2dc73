"""Request and response bodies of the lifecycle API (pydantic; never ORM classes).

The HR webhook's payloads are in `webhook.py`, beside the signature check they come with.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

UNIT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
# HR's person id (also the JWT `sub`): an employee number, never a personal identity number.
PERSON_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,63}$"


class UnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200, examples=["Hemtjänst Norr"])
    administration: str = Field(min_length=1, max_length=200, examples=["Socialförvaltningen"])
    parent_unit_id: str | None = Field(default=None, pattern=UNIT_ID_PATTERN)
    cost_centre: str = Field(min_length=1, max_length=32, examples=["41230"])
    head_person_id: str | None = Field(default=None, min_length=1, max_length=64)


class UnitCreate(UnitIn):
    unit_id: str = Field(pattern=UNIT_ID_PATTERN, examples=["SOC-HT-N"])


class UnitOut(UnitCreate):
    model_config = ConfigDict(from_attributes=True)

    version: int
    created_at: datetime
    updated_at: datetime


Outcome = Literal["applied", "unchanged", "stale", "ignored-after-end"]


class HrReceipt(BaseModel):
    """What became of an HR delivery. `duplicate`: this webhook-id was applied before."""

    webhook_id: str
    type: str
    outcome: Outcome
    detail: str
    duplicate: bool


class HrEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    webhook_id: str
    event_type: str
    subject: str
    hr_time: datetime
    outcome: str
    detail: str
    received_at: datetime


class PersonOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    person_id: str
    unit_id: str
    nearest_manager_id: str | None
    start_date: date | None
    last_day: date | None
    status: Literal["employed", "leaving", "ended"]
    placement: str
    placed_on: date | None
    previous_unit_id: str | None
    version: int


class HoldingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: uuid.UUID
    holder_person_id: str | None
    unit_id: str | None
    kind: str | None
    state: str
    issued_at: datetime | None
    subscription_ids: list[uuid.UUID] = Field(
        default=[], description="Active subscriptions on the device, as inventory announced "
        "them: what a private-use agreement can name (rule P1)")


class EscalationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    level: int
    days_overdue: int
    escalated_to: str | None
    as_of: date


ReturnReason = Literal["employment-ended", "transferred", "consumed", "not-needed", "replaced"]


class ReturnCaseOut(BaseModel):
    case_id: uuid.UUID
    device_id: uuid.UUID
    person_id: str | None
    unit_id: str
    reason: ReturnReason
    status: Literal["open", "completed"]
    due_date: date
    receiver: Literal["nearest-manager", "it-service"]
    receiver_person_id: str | None
    device_state: str | None = Field(description="issued, lost or returned, as inventory last "
                                     "reported; a lost device's case is not escalated")
    days_overdue: int
    opened_by: str
    opened_at: datetime
    completed_at: datetime | None
    received_by: str | None
    escalations: list[EscalationOut]


class HandInIn(BaseModel):
    """rules C3 and C2: a device no longer needed, or consumed, is handed in to IT service."""

    model_config = ConfigDict(extra="forbid")

    device_id: uuid.UUID
    reason: Literal["not-needed", "consumed", "replaced"]
    due_date: date | None = Field(default=None, description="Default: today plus the "
                                  "configured hand-in days (14)")


class EscalatedCase(BaseModel):
    case_id: uuid.UUID
    level: int
    days_overdue: int
    escalated_to: str | None


class EscalationRunOut(BaseModel):
    as_of: date
    escalated: list[EscalatedCase]


class LossIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device_id: uuid.UUID
    circumstances: str = Field(default="", max_length=2000,
                               examples=["Left on the bus, line 1, on Monday morning"])
    lost_on: date | None = None


class LossOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    loss_id: uuid.UUID
    device_id: uuid.UUID
    person_id: str | None
    unit_id: str
    reported_by: str
    circumstances: str
    lost_on: date | None
    instruction_url: str = Field(description="rule U9: the loss instruction on the intranet")
    status: Literal["open", "found"]
    reported_at: datetime
    sim_blocked: bool | None
    mdm_action: str | None
    closed_at: datetime | None
    replacement_device_id: uuid.UUID | None = Field(
        default=None, description="rule U9: the device IT service issued in place of the lost "
                                  "one (same holder, kind and tier; no new order)")

