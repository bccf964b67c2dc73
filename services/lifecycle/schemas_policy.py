"""Request and response bodies of the policy API (rules B5, R1).

The parameter documents themselves (`PolicyParameters`, `LocalRules`) are the event contract's,
from shared/events/catalogue.py: what the API shows is what policy-changed carries.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.catalogue import LocalRules, PolicyParameters

Scope = Literal["municipality", "administration", "unit"]
Note = Field(min_length=1, max_length=2000, description="Why: kept in the policy's history",
             examples=["Yearly review by the contact-centre manager"])


class ReviewOut(BaseModel):
    """rule R1: reviewed yearly; `overdue` from the day after `review_due_on`."""

    reviewed_on: date
    review_due_on: date
    overdue: bool
    days_overdue: int


class MunicipalPolicyOut(BaseModel):
    policy_version: int = Field(description="The version of this municipal policy")
    parameters: PolicyParameters
    reviewed_on: date
    review: ReviewOut
    note: str
    changed_by: str
    changed_at: datetime


class MunicipalPolicyIn(BaseModel):
    """A new version of the municipality-wide parameters (the guideline owner, rule R1)."""

    model_config = ConfigDict(extra="forbid")

    parameters: PolicyParameters
    based_on_version: int = Field(ge=1, description="The policy_version this change was made "
                                  "from; another change in between is a 409")
    reviewed_on: date | None = Field(default=None, description="Default today: a change is a "
                                     "review (rule R1)")
    note: str = Note


class ReviewIn(BaseModel):
    """rule R1: the guideline was reviewed and stands unchanged."""

    model_config = ConfigDict(extra="forbid")

    reviewed_on: date | None = Field(default=None, description="Default today")
    note: str = Note


class LocalRulesIn(BaseModel):
    """rule B5: the whole local rule set of one administration or unit (replaces the last)."""

    model_config = ConfigDict(extra="forbid")

    rules: LocalRules
    note: str = Note


class LocalPolicyOut(BaseModel):
    scope: Literal["administration", "unit"]
    scope_id: str
    policy_version: int | None = Field(description="The change that set these rules; null: "
                                       "none were ever set")
    rules: LocalRules
    effective: PolicyParameters
    sources: dict[str, str] = Field(description="Which scope set each local parameter")
    note: str | None = None
    changed_by: str | None = None
    changed_at: datetime | None = None


class UnitPolicyOut(BaseModel):
    """The policy in effect for a unit: the municipality's plus every stricter local rule."""

    unit_id: str
    administration: str
    effective: PolicyParameters
    sources: dict[str, str]
    rules_applied: list[LocalPolicyOut] = Field(description="The local rule sets combined, "
                                                "from the administration down to the unit")
    municipal_version: int
    review: ReviewOut


class PolicyChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    policy_version: int
    scope: Scope
    scope_id: str | None
    document: dict[str, Any]
    reviewed_on: date | None
    note: str
    changed_by: str
    changed_at: datetime
