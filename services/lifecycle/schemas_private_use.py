"""Request and response bodies of private use (rules P1, P3)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.lifecycle.schemas import PERSON_ID_PATTERN

AgreementStatus = Literal["requested", "approved", "refused", "active", "ended", "cancelled"]
EndReason = Literal["employment-ended", "revoked", "expired", "employee-request", "transferred"]


class AgreementRequestIn(BaseModel):
    """rule P1: the employee (or their manager or head on their behalf) asks for private use."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    person_id: str = Field(pattern=PERSON_ID_PATTERN, examples=["E10442"])
    device_id: uuid.UUID = Field(description="The municipal phone the person holds")
    subscription_id: uuid.UUID | None = Field(
        default=None, description="Default: the phone's one active subscription if lifecycle "
        "knows exactly one; otherwise the agreement covers all the person's subscriptions")
    motivation: str = Field(default="", max_length=2000,
                            examples=["On call evenings; one phone instead of two"])


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field(default="", max_length=2000)


class RefusalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=2000,
                        examples=["The job needs no phone outside working hours"])


class SignatureIn(BaseModel):
    """rule P3: the employee signs the very text they were shown, named by version and hash."""

    model_config = ConfigDict(extra="forbid")

    terms_version: int = Field(ge=1)
    terms_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    accepted: Literal[True] = Field(description="The employee read the P3 text and accepts the "
                                    "agreement")


class TermsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=40, max_length=20000)


class TermsOut(BaseModel):
    """rule P3: the text shown to the employee before signing."""

    model_config = ConfigDict(from_attributes=True)

    version: int
    text: str
    sha256: str = Field(description="SHA-256 of the UTF-8 text: the signature names it")
    published_by: str
    published_at: datetime


class AgreementOut(BaseModel):
    agreement_id: uuid.UUID
    person_id: str
    unit_id: str = Field(description="The person's unit when asked: its head decides")
    device_id: uuid.UUID
    subscription_id: uuid.UUID | None
    status: AgreementStatus
    in_force: bool = Field(description="Signed and not past its last day")
    motivation: str
    requested_by: str
    requested_at: datetime
    decider_person_id: str | None = Field(description="Who decides: the head of the unit (for "
                                          "a head's own phone, the head above)")
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None = Field(description="The head's note; the reason of a refusal")
    terms_version: int | None = Field(description="The P3 text signed (rule P3)")
    terms_sha256: str | None
    signed_at: datetime | None
    valid_from: date | None
    ended_on: date | None = Field(description="The last day in force (inclusive)")
    end_reason: EndReason | None
    ended_by: str | None
    terms_to_sign: TermsOut | None = Field(
        description="While approved: the P3 text to show the employee before they sign")
