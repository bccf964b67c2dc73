"""Request and response bodies of fixed telephony: extensions and readiness (B4, U1–U3)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.inventory.domain_telephony import Presence


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReportedExtension(_In):
    extension_id: str = Field(min_length=1, max_length=100, examples=["ext-4711"])
    number: str = Field(min_length=3, max_length=30, examples=["0370-377123"])
    kind: Literal["fixed", "mobile"] = Field(description="rule B4: fixed lines count too")
    person_id: str | None = Field(default=None, max_length=64)
    presence: Presence = Field(description="available and in-call are reachable; busy, away, "
                                           "off-duty and offline need a forwarding (U2)")
    forwarding_active: bool = False
    forwarding_target: str | None = Field(default=None, max_length=100)
    voicemail_set_up: bool = Field(default=False, description="rule U3")
    personal_greeting: bool = Field(default=False, description="rule U3")
    removed: bool = Field(default=False, description="The extension no longer exists")
    observed_at: datetime | None = Field(default=None, description="When it last changed; "
                                         "default: the report's observed_at")


class TelephonyReportIn(_In):
    report_id: str = Field(min_length=1, max_length=200,
                           description="The platform's id for this report: a retried POST is "
                                       "a no-op")
    observed_at: datetime
    extensions: list[ReportedExtension] = Field(min_length=1, max_length=20_000)

    @model_validator(mode="after")
    def _unique(self) -> TelephonyReportIn:
        ids = [e.extension_id for e in self.extensions]
        if len(set(ids)) != len(ids):
            raise ValueError("each extension appears once per report")
        return self


class TelephonyReportOut(BaseModel):
    report_id: str
    entries: int
    applied: int = Field(description="Extensions changed (older or repeated news changes none)")
    duplicate: bool


class ExtensionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    extension_id: str
    number: str
    kind: str
    person_id: str | None
    presence: str
    forwarding_active: bool
    forwarding_target: str | None
    voicemail_set_up: bool
    personal_greeting: bool
    observed_at: datetime


class ItemOut(BaseModel):
    item: Literal["extension", "forwarding", "voicemail", "greeting"]
    rule: str
    status: Literal["ok", "missing"]
    detail: str
    extension_id: str | None
    number: str | None


class ReadinessOut(BaseModel):
    person_id: str
    unit_id: str | None
    manager_id: str | None
    ready: bool = Field(description="rule U1: every checklist item is ok")
    missing: int
    items: list[ItemOut]


class StaffReadinessOut(BaseModel):
    manager_id: str
    ready: int
    not_ready: int
    people: list[ReadinessOut]
