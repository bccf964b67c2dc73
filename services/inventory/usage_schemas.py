"""Request and response bodies of usage, costs and statements (rule P2)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.inventory.domain_usage import period_label
from services.inventory.models_usage import UsageFlag
from services.inventory.usage import UsageImportResult


class UsageImportOut(BaseModel):
    import_id: uuid.UUID
    source: str
    periods: list[str]
    rows: int
    unit_sek: Decimal = Field(description="Charged to the subscriptions' cost centres")
    employee_sek: Decimal = Field(description="Private extras charged to employees (P2)")
    flagged_sek: Decimal = Field(description="Private extras awaiting the head's decision")
    total_sek: Decimal
    flags: int
    duplicate: bool = Field(description="True: this file was imported before; nothing changed")

    @classmethod
    def of(cls, result: UsageImportResult) -> UsageImportOut:
        t = result.totals
        return cls(import_id=result.import_id, source=result.source, periods=result.periods,
                   rows=result.rows, unit_sek=t.unit, employee_sek=t.employee,
                   flagged_sek=t.flagged, total_sek=t.total, flags=result.flags,
                   duplicate=result.duplicate)


class FlagOut(BaseModel):
    flag_id: uuid.UUID
    import_id: uuid.UUID
    subscription_id: uuid.UUID
    number: str
    period: str
    person_id: str | None
    unit_id: str
    cost_centre: str
    amount_sek: Decimal
    reason: str
    state: Literal["open", "resolved"]
    charge_to: Literal["unit", "employee"] | None
    resolved_by: str | None
    resolved_at: datetime | None
    note: str | None
    opened_at: datetime

    @classmethod
    def of(cls, flag: UsageFlag) -> FlagOut:
        return cls(flag_id=flag.flag_id, import_id=flag.import_id,
                   subscription_id=flag.subscription_id, number=flag.msisdn,
                   period=period_label(flag.period), person_id=flag.person_id,
                   unit_id=flag.unit_id, cost_centre=flag.cost_centre,
                   amount_sek=flag.amount_sek, reason=flag.reason,
                   state=flag.state, charge_to=flag.charge_to,  # type: ignore[arg-type]
                   resolved_by=flag.resolved_by, resolved_at=flag.resolved_at, note=flag.note,
                   opened_at=flag.opened_at)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    charge_to: Literal["unit", "employee"] = Field(
        description="rule P2: the unit's cost centre pays, or the employee does")
    note: str | None = Field(default=None, max_length=500)


class StatementTotals(BaseModel):
    unit_sek: Decimal
    employee_sek: Decimal
    flagged_sek: Decimal
    total_sek: Decimal


class StatementLine(BaseModel):
    number: str
    subscription_id: uuid.UUID
    person_id: str | None
    unit_id: str
    cost_centre: str
    category: str
    charged_to: Literal["unit", "employee", "flagged"]
    flag_id: uuid.UUID | None
    amount_sek: Decimal


class StatementOut(BaseModel):
    period: str
    cost_centre: str | None
    person_id: str | None
    totals: StatementTotals
    lines: list[StatementLine]
