"""The HR webhook contract: Standard Webhooks signatures and the payloads HR sends.

docs/lifecycle.md explains it to an HR vendor, with a worked signing example; these models are
the contract the OpenAPI document shows. Payloads follow the Standard Webhooks shape
`{"type", "timestamp", "data"}`; `timestamp` is when HR recorded the change, and orders the
events about one person or unit (see `domain.decide_*`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.lifecycle.schemas import PERSON_ID_PATTERN, UNIT_ID_PATTERN
from shared.errors import RuleViolation, Unauthorized

HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
TOLERANCE_MINUTES = 5  # fixed by the standardwebhooks package; documented for the vendor

PersonIdField = Annotated[str, Field(min_length=1, max_length=64, pattern=PERSON_ID_PATTERN,
                                     examples=["E10442"])]
UnitIdField = Annotated[str, Field(pattern=UNIT_ID_PATTERN, examples=["SOC-HT-N"])]

# HR's dates and times within years no employment falls outside. A signed event dated in year 1
# or 9999 is a mistake, and would overflow the date arithmetic of the rules (a due date a day
# later, a time converted to UTC): answered 500, retried by HR forever, never applied.
YEARS = range(1900, 2200)


def _within_years(value: date) -> date:
    if value.year not in YEARS:
        raise ValueError(f"the year must be between {YEARS.start} and {YEARS.stop - 1}")
    return value


HrDate = Annotated[date, AfterValidator(_within_years)]
HrTime = Annotated[AwareDatetime, AfterValidator(_within_years)]


class WebhookVerifier:
    """Accepts a delivery signed with any of the configured secrets (rotation)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self._hooks = [Webhook(secret) for secret in secrets]

    def verify(self, body: bytes, headers: Mapping[str, str]) -> str:
        """The delivery's webhook-id, or Unauthorized saying what is wrong."""
        given = {name: headers.get(name, "") for name in HEADERS}
        missing = [name for name, value in given.items() if not value]
        if missing:
            raise Unauthorized("The HR webhook must be signed (Standard Webhooks): missing "
                               + ", ".join(missing))
        if len(given["webhook-id"]) > 200:
            raise Unauthorized("webhook-id is longer than 200 characters")
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Unauthorized("The body is not UTF-8, so its signature cannot match") from exc
        for hook in self._hooks:
            try:
                hook.verify(body, given, json_parse=False)
                return given["webhook-id"]
            except WebhookVerificationError as exc:
                if "timestamp" in str(exc) or "Headers" in str(exc):
                    raise Unauthorized(
                        f"webhook-timestamp is not within {TOLERANCE_MINUTES} minutes of our "
                        "clock (or not a Unix time in seconds): sign every delivery, and every "
                        "retry, with the current time") from exc
            except ValueError as exc:  # a malformed webhook-signature (no "v1,", not base64)
                raise Unauthorized("webhook-signature is malformed: expected "
                                   "'v1,<base64>' entries separated by spaces") from exc
        raise Unauthorized("webhook-signature matches none of the HR secrets we accept")


# --- payloads --------------------------------------------------------------------------------


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class HrUnit(_Data):
    unit_id: UnitIdField
    name: str = Field(min_length=1, max_length=200, examples=["Hemtjänst Norr"])
    administration: str = Field(min_length=1, max_length=200, examples=["Socialförvaltningen"])
    parent_unit_id: UnitIdField | None = None
    cost_centre: str = Field(min_length=1, max_length=32, examples=["41230"])
    head_person_id: PersonIdField | None = None


class HrHire(_Data):
    person_id: PersonIdField
    unit_id: UnitIdField
    nearest_manager_id: PersonIdField | None = None
    start_date: HrDate


class HrTransfer(_Data):
    person_id: PersonIdField
    from_unit_id: UnitIdField
    to_unit_id: UnitIdField
    nearest_manager_id: PersonIdField | None = Field(
        default=None, description="The nearest manager in the new unit.")
    previous_manager_id: PersonIdField | None = Field(
        default=None, description="The nearest manager in the unit left, who gets the devices "
        "back (rule U7). Omitted: the manager HR last told us, else that unit's head.")
    effective_date: HrDate = Field(description="The first day in the new unit; devices of the "
                                 "unit left are due back on the last day before it (rule U7).")

    @model_validator(mode="after")
    def _moves(self) -> HrTransfer:
        if self.from_unit_id == self.to_unit_id:
            raise ValueError("from_unit_id and to_unit_id are the same unit")
        return self


class HrEnd(_Data):
    person_id: PersonIdField
    unit_id: UnitIdField
    last_day: HrDate = Field(description="The last day of employment; may be in the future.")
    nearest_manager_id: PersonIdField | None = Field(
        default=None, description="Gets the devices back. Omitted: the manager HR last told "
        "us, else the unit's head.")


class _HrEventBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timestamp: HrTime = Field(description="When the change was recorded in HR (RFC "
                                     "3339 with offset). Orders events about one person or "
                                     "unit: a correction carries a later timestamp.")


class UnitRegisteredIn(_HrEventBase):
    type: Literal["unit.registered"]
    data: HrUnit


class UnitChangedIn(_HrEventBase):
    type: Literal["unit.changed"]
    data: HrUnit


class EmployeeHiredIn(_HrEventBase):
    type: Literal["employee.hired"]
    data: HrHire


class EmployeeTransferredIn(_HrEventBase):
    type: Literal["employee.transferred"]
    data: HrTransfer


class EmploymentEndedIn(_HrEventBase):
    type: Literal["employment.ended"]
    data: HrEnd


HrEventIn = Annotated[
    UnitRegisteredIn | UnitChangedIn | EmployeeHiredIn | EmployeeTransferredIn
    | EmploymentEndedIn,
    Field(discriminator="type"),
]
HR_EVENT: TypeAdapter[Any] = TypeAdapter(HrEventIn)


def subject_of(event: Any) -> str:
    data = event.data
    return str(data.unit_id if isinstance(data, HrUnit) else data.person_id)


def parse(body: bytes) -> Any:
    """The typed HR event, or a 422 naming every field that is wrong."""
    try:
        return HR_EVENT.validate_json(body)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                  for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise RuleViolation(f"The HR event is not valid: {detail}", errors=errors) from exc


EXAMPLES: dict[str, dict[str, Any]] = {
    "employee.hired": {"type": "employee.hired", "timestamp": "2026-02-02T08:15:00+01:00",
                       "data": {"person_id": "E10442", "unit_id": "SOC-HT-N",
                                "nearest_manager_id": "E20017", "start_date": "2026-03-01"}},
    "employee.transferred": {
        "type": "employee.transferred", "timestamp": "2026-05-04T10:00:00+02:00",
        "data": {"person_id": "E10442", "from_unit_id": "SOC-HT-N", "to_unit_id": "SOC-HT-S",
                 "nearest_manager_id": "E20031", "previous_manager_id": "E20017",
                 "effective_date": "2026-06-01"}},
    "employment.ended": {"type": "employment.ended", "timestamp": "2026-09-15T13:30:00+02:00",
                         "data": {"person_id": "E10442", "unit_id": "SOC-HT-S",
                                  "last_day": "2026-10-31", "nearest_manager_id": "E20031"}},
    "unit.registered": {"type": "unit.registered", "timestamp": "2026-01-10T09:00:00+01:00",
                        "data": {"unit_id": "SOC-HT-N", "name": "Hemtjänst Norr",
                                 "administration": "Socialförvaltningen",
                                 "parent_unit_id": "SOC-HT", "cost_centre": "41230",
                                 "head_person_id": "E20017"}},
    "unit.changed": {"type": "unit.changed", "timestamp": "2026-04-01T09:00:00+02:00",
                     "data": {"unit_id": "SOC-HT-N", "name": "Hemtjänst Norr",
                              "administration": "Socialförvaltningen",
                              "parent_unit_id": "SOC-HT", "cost_centre": "41231",
                              "head_person_id": "E20044"}},
}


def _inline(schema: Any, defs: Mapping[str, Any]) -> Any:
    """Replace local $refs by their definitions: the OpenAPI operation carries its own schema."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]), defs)
        inlined = {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
        if isinstance(inlined.get("discriminator"), dict):
            # Its mapping names $defs that no longer exist once inlined; propertyName suffices.
            inlined["discriminator"] = {"propertyName": inlined["discriminator"]["propertyName"]}
        return inlined
    if isinstance(schema, list):
        return [_inline(item, defs) for item in schema]
    return schema


def openapi_extra() -> dict[str, Any]:
    schema = HR_EVENT.json_schema()
    header = {"in": "header", "required": True, "schema": {"type": "string"}}
    return {
        "parameters": [
            {**header, "name": "webhook-id", "description": "Unique per event and the same on "
             "every retry of it; a repeated id is answered 2xx and applied once."},
            {**header, "name": "webhook-timestamp", "description": "Unix time in seconds of "
             f"this attempt; refused if more than {TOLERANCE_MINUTES} minutes off."},
            {**header, "name": "webhook-signature", "description": "`v1,<base64 HMAC-SHA256 of "
             "'{id}.{timestamp}.{body}'>`, several separated by spaces during rotation."},
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {
                "schema": _inline(schema, schema.get("$defs", {})),
                "examples": {name: {"summary": name, "value": value}
                             for name, value in EXAMPLES.items()},
            }},
        },
    }
