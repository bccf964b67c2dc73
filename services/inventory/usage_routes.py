"""Inventory HTTP API, usage and costs (rule P2): the usage import, flags, statements (thin:
parse, authorise, call the use case). Included by routes.py under /v1."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status

from services.inventory import costs, domain, usage
from services.inventory.domain_usage import COLUMNS, parse_period
from services.inventory.repository import UsageRepository
from services.inventory.usage_schemas import (
    FlagOut,
    ResolveIn,
    StatementOut,
    UsageImportOut,
)
from shared.auth import User, require_roles
from shared.errors import NotFound, RuleViolation
from shared.runtime import SessionDep

router = APIRouter(tags=["usage and costs"])
ItService = Annotated[User, Depends(require_roles("it-service"))]
RegisterReader = Annotated[User, Depends(require_roles("it-service", "auditor"))]
Person = Annotated[User, Depends(require_roles(*domain.PERSON_ROLES))]
MAX_BYTES = 64 * 1024 * 1024
CSV = "text/csv"
Period = Query(pattern=r"^\d{4}-\d{2}$", examples=["2026-03"], description="A month, YYYY-MM")
_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {CSV: {"schema": {
    "type": "string", "example": ",".join(costs.STATEMENT_COLUMNS)}}}}}


@router.post(
    "/usage/imports", status_code=status.HTTP_201_CREATED, response_model=UsageImportOut,
    summary="Import the operator's monthly usage file and split the costs (IT service; P2)",
    openapi_extra={"requestBody": {"required": True, "content": {CSV: {"schema": {
        "type": "string",
        "example": "number,period,category,amount_sek\n+46701234567,2026-03,flat-fee,149.00\n"
                   "+46701234567,2026-03,roaming,89.50\n"}}}}},
    description="Columns: " + ", ".join(COLUMNS) + ". All rows or none: a refused import "
                "answers 422 with `errors` (line and reason of every bad row). The same file "
                "again answers 200 with `duplicate: true` and changes nothing.")
async def import_usage(request: Request, response: Response, session: SessionDep,
                       user: ItService,
                       filename: Annotated[str, Query(max_length=200)] = "upload.csv"
                       ) -> UsageImportOut:
    body = await request.body()
    if len(body) > MAX_BYTES:
        raise RuleViolation("The file is larger than 64 MB: use `kommunmobil inventory "
                            "usage-import`")
    result = await usage.import_usage(session, actor=user.person_id, content=body,
                                      source=filename)
    if result.duplicate:
        response.status_code = status.HTTP_200_OK
    return UsageImportOut.of(result)


@router.get("/usage/imports/{import_id}", response_model=UsageImportOut,
            summary="One usage import and its split (IT service, auditor)")
async def get_import(import_id: uuid.UUID, session: SessionDep, user: RegisterReader
                     ) -> UsageImportOut:
    row = await UsageRepository(session).get_import(import_id)
    if row is None:
        raise NotFound(f"Usage import {import_id} does not exist")
    return UsageImportOut.of(usage.result_of(row, duplicate=False))


def _month(period: str) -> date:
    return parse_period(period, today=date.max)


@router.get("/usage/flags", response_model=list[FlagOut],
            summary="Flagged private costs: a head's units' (and below); IT service and the "
                    "auditor all")
async def list_flags(session: SessionDep, user: Person,
                     state: Literal["open", "resolved"] | None = "open",
                     period: Annotated[str | None, Period] = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[FlagOut]:
    units = await costs.visible_units(session, user)
    rows = await UsageRepository(session).flags(
        unit_ids=units, state=state, period=_month(period) if period else None, limit=limit)
    return [FlagOut.of(f) for f in rows]


@router.post("/usage/flags/{flag_id}/resolve", response_model=FlagOut,
             summary="The head decides who pays flagged private costs: the unit or the "
                     "employee (P1, P2)")
async def resolve_flag(flag_id: uuid.UUID, body: ResolveIn, session: SessionDep, user: Person
                       ) -> FlagOut:
    return FlagOut.of(await costs.resolve_flag(session, user=user, flag_id=flag_id,
                                               charge_to=body.charge_to, note=body.note))


def _render(request: Request, body: dict[str, Any], fmt: str | None, name: str) -> Any:
    wants_csv = fmt == "csv" or (fmt is None and CSV in request.headers.get("accept", ""))
    if not wants_csv:
        return body
    return Response(costs.statement_csv(body), media_type=f"{CSV}; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@router.get("/statements/cost-centres/{cost_centre}", response_model=StatementOut,
            responses=_CSV_RESPONSE,
            summary="A cost centre's monthly statement (its head, IT service, auditor; P2); "
                    "CSV with Accept: text/csv or format=csv")
async def cost_centre_statement(
        cost_centre: str, request: Request,
        session: SessionDep, user: Person, period: Annotated[str, Period],
        format: Literal["json", "csv"] | None = None) -> Any:
    await costs.check_cost_centre_reader(session, user, cost_centre)
    body = await costs.statement(session, period=_month(period), cost_centre=cost_centre)
    return _render(request, body, format, f"statement-{cost_centre}-{period}")


@router.get("/statements/people/{person_id}", response_model=StatementOut,
            responses=_CSV_RESPONSE,
            summary="What an employee pays for a month (the employee, IT service, auditor; "
                    "P2); CSV with Accept: text/csv or format=csv")
async def person_statement(person_id: str, request: Request, session: SessionDep,
                           user: Person, period: Annotated[str, Period],
                           format: Literal["json", "csv"] | None = None) -> Any:
    costs.check_person_reader(user, person_id)
    body = await costs.statement(session, period=_month(period), person_id=person_id)
    return _render(request, body, format, f"statement-{person_id}-{period}")
