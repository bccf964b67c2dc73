"""Request and response bodies of the lifecycle API (pydantic; never ORM classes)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

UNIT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


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
