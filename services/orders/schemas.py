"""Request and response bodies of the orders API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class KnownUnitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    unit_id: str
    name: str
    cost_centre: str
    head_person_id: str | None
    source_event_time: datetime
