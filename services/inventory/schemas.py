"""Request and response bodies of the inventory API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ModelKind = Literal["phone", "tablet"]
Tier = Literal["robust", "simple", "standard", "advanced"]
Platform = Literal["android", "ios", "ipados"]
Slug = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9._-]*$")
OsVersion = Field(min_length=1, max_length=20, examples=["14"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DeviceModelIn(_In):
    manufacturer: str = Field(min_length=1, max_length=100, examples=["Samsung"])
    model: str = Field(min_length=1, max_length=100, examples=["Galaxy XCover7"])
    kind: ModelKind
    tier: Tier | None = None
    platform: Platform
    security_updates_end: date = Field(description="rule C1: the day security updates end")
    max_os_version: str = OsVersion
    catalogue_item_id: str | None = Field(
        default=None, max_length=100,
        description="The orders catalogue item this model fills (else kind and tier match)")


class DeviceModelCreate(DeviceModelIn):
    model_id: str = Slug


class DeviceModelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    model_id: str
    manufacturer: str
    model: str
    kind: ModelKind
    tier: Tier | None
    platform: Platform
    security_updates_end: date
    max_os_version: str
    catalogue_item_id: str | None
    updated_at: datetime


class RequiredAppIn(_In):
    name: str = Field(min_length=1, max_length=100, examples=["Lifecare Mobil Omsorg"])
    platform: Platform
    min_os_version: str = OsVersion


class RequiredAppCreate(RequiredAppIn):
    app_id: str = Slug


class RequiredAppOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    app_id: str
    name: str
    platform: Platform
    min_os_version: str
    updated_at: datetime


class DeviceItem(_In):
    model_id: str = Field(min_length=1, max_length=100, examples=["samsung-xcover7"])
    serial_number: str = Field(min_length=3, max_length=64, examples=["R58T90ABCDE"])
    imei: str | None = Field(default=None, max_length=20, examples=["356938035643809"])
    os_version: str | None = Field(default=None, max_length=20, examples=["14"])


class DeviceReceipt(DeviceItem):
    order_id: uuid.UUID | None = None
    intake_exception: str | None = Field(
        default=None, min_length=10, max_length=500,
        description="Required when there is no order (rule O1): why the device enters anyway.")


class BulkReceipt(_In):
    devices: list[DeviceItem] = Field(min_length=1, max_length=5000)
    order_id: uuid.UUID | None = None
    intake_exception: str | None = Field(default=None, min_length=10, max_length=500)


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: uuid.UUID
    kind: ModelKind
    model_id: str
    imei: str | None
    serial_number: str
    os_version: str | None
    owner: Literal["municipality"]
    state: str
    holder_person_id: str | None
    holder_unit_id: str | None
    unit_id: str | None
    order_id: uuid.UUID | None
    intake_exception: str | None
    mdm_enrolment_id: str | None
    consumed_reason: str | None
    consumed_on: date | None
    loss_id: uuid.UUID | None
    supplier: str | None
    erasure_confirmation: str | None
    passcode_set: bool | None
    replaced_by_device_id: uuid.UUID | None = Field(
        default=None, description="rule U9: the device issued in place of this lost one")
    version: int
    created_at: datetime
    updated_at: datetime


class DevicePage(BaseModel):
    items: list[DeviceOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at "
                                                "the end")


class BulkReceiptOut(BaseModel):
    received: int
    device_ids: list[uuid.UUID]


class HistoryEntry(BaseModel):
    occurred_at: datetime
    actor: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class TermsOut(BaseModel):
    version: str
    text: str
    sha256: str = Field(description="Send it back in the acknowledgement: proves which text "
                                    "was shown")


class AcknowledgementIn(_In):
    """rule B1: the holder acknowledges the ownership terms (GET /v1/terms/ownership)."""

    person_id: str = Field(min_length=1, max_length=64,
                           description="Who acknowledged: the holder, or for a shared device "
                                       "the person receiving it for the unit")
    accepted: bool
    terms_sha256: str = Field(min_length=64, max_length=64)
    acknowledged_at: datetime | None = None


class AcknowledgementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    acknowledgement_id: uuid.UUID
    device_id: uuid.UUID
    person_id: str
    terms_version: str
    terms_sha256: str
    acknowledged_at: datetime
    recorded_by: str


class IssueIn(_In):
    """rule U8: exactly one of holder_person_id (personal) and holder_unit_id (shared)."""

    holder_person_id: str | None = Field(default=None, min_length=1, max_length=64)
    holder_unit_id: str | None = Field(default=None, min_length=1, max_length=64)
    unit_id: str | None = Field(
        default=None, min_length=1, max_length=64,
        description="The unit a personal device belongs to; taken from the order when "
                    "reserved, or from the lost device replaced")
    acknowledgement: AcknowledgementIn
    # rule O3: a device not reserved for an approved order needs one of these two grounds.
    replaces_lost_device_id: uuid.UUID | None = Field(
        default=None,
        description="rule U9: the lost device this one replaces, for the same holder and of the "
                    "same kind; no new order is needed (once per lost device)")
    exception_reason: str | None = Field(
        default=None, min_length=10, max_length=500,
        description="rule O3: why IT service issues a device reserved for no approved order "
                    "(recorded in the audit trail). Not allowed with an order or a replacement",
        examples=["Loan phone while the ordered one is delivered, decided by the head"])


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    subscription_id: uuid.UUID
    order_id: uuid.UUID | None
    plan: str
    calls: bool
    sms: bool
    mms: bool
    data_gb: int
    cost_centre: str
    unit_id: str
    holder_person_id: str | None
    sim_id: uuid.UUID
    msisdn: str
    device_id: uuid.UUID | None
    state: str
    activated_at: datetime | None
    terminated_at: datetime | None


class SubscriptionPage(BaseModel):
    items: list[SubscriptionOut]
    next_cursor: str | None


class IssueOut(BaseModel):
    device: DeviceOut
    acknowledgement: AcknowledgementOut
    subscriptions: list[SubscriptionOut]


class CheckInIn(_In):
    subscriptions: Literal["terminate", "keep"] = Field(
        description="End the device's subscriptions, or keep them for the holder's next device")
    condition: Literal["ok", "needs-repair"] = "ok"
    return_case_id: uuid.UUID | None = None


class RestockIn(_In):
    manual_wipe_confirmation: str | None = Field(
        default=None, min_length=5, max_length=500,
        description="Only when the MDM cannot wipe it: who wiped the device by hand, and how")


class RepairIn(_In):
    """A device nobody holds goes to repair as it is; a held device goes through
    POST /v1/repairs, which records the holder's confirmation of the data-loss warning (S4)."""

    data_loss_warned: bool = Field(default=False, description="Kept for compatibility; a held "
                                   "device needs the holder's confirmation in POST /v1/repairs")


class HandOverIn(_In):
    supplier: str = Field(min_length=2, max_length=200)
    erasure_confirmation: str = Field(min_length=3, max_length=500,
                                      description="rule C2: the supplier's erasure certificate")


class ActivateIn(_In):
    device_id: uuid.UUID | None = Field(default=None, description="The device the SIM goes into")


class SimsIn(_In):
    iccids: list[str] = Field(min_length=1, max_length=5000)


class NumbersIn(_In):
    numbers: list[str] = Field(min_length=1, max_length=5000)


class RegisteredOut(BaseModel):
    registered: int
    already_known: int


class ReportedDevice(_In):
    imei: str | None = Field(default=None, max_length=20)
    serial_number: str | None = Field(default=None, max_length=64)
    passcode_set: bool | None = Field(default=None, description="rule U4")
    sim_iccids: list[str] = Field(default_factory=list, max_length=4,
                                  description="rule U5: the SIMs seen in the device")

    @model_validator(mode="after")
    def _identified(self) -> ReportedDevice:
        if not self.imei and not self.serial_number:
            raise ValueError("each reported device needs an imei or a serial_number")
        return self


class ComplianceReportIn(_In):
    report_id: str = Field(min_length=1, max_length=200,
                           description="The MDM's id for this report: a retried POST is a no-op")
    devices: list[ReportedDevice] = Field(min_length=1, max_length=10_000)


class ComplianceReportOut(BaseModel):
    report_id: str
    entries: int
    violations_opened: int
    duplicate: bool


class FindingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    finding_id: uuid.UUID
    rule: str
    device_id: uuid.UUID | None
    sim_iccid: str | None
    imei: str | None
    detail: str
    opened_at: datetime
    closed_at: datetime | None


class SweepOut(BaseModel):
    consumed: int
    security_updates_ended: int
    required_app_unsupported: int


class ImportOut(BaseModel):
    imported: int
    issued: int


class FulfilmentLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    line_no: int
    item_no: int
    kind: str
    catalogue_item_id: str
    tier: str | None
    model_id: str | None
    state: str
    device_id: uuid.UUID | None
    subscription_id: uuid.UUID | None


class FulfilmentOut(BaseModel):
    order_id: uuid.UUID
    state: str
    unit_id: str | None
    recipient_person_id: str | None
    lines: list[FulfilmentLineOut]
