"""Costs after the import (rule P2): the private-use agreements read model (from lifecycle's
events, P1), the head's decision on flagged extras, and the monthly statements. Never commits.

Who reads which statement: a cost centre's — the head of a unit with that cost centre (or of a
unit above it), IT service and the auditor; an employee's — that employee, IT service and the
auditor. Who decides a flag: the head of the subscription's unit (or of a unit above it) — the
head decides on private use (P1), so IT service does not decide for them.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain_usage as rules
from services.inventory.models_usage import PrivateUseAgreement, UsageFlag
from services.inventory.records import SYSTEM
from services.inventory.repository import AgreementRepository, UnitRepository, UsageRepository
from shared.audit import record_audit
from shared.auth import User
from shared.errors import Forbidden, NotFound
from shared.events.catalogue import PrivateCostResolved, PrivateUseApproved, PrivateUseEnded
from shared.messaging.outbox import add_event

READ_ALL = frozenset({"it-service", "auditor"})
STATEMENT_COLUMNS = ("period", "cost_centre", "unit_id", "number", "person_id", "category",
                     "charged_to", "amount_sek", "flag_id")


# --- the agreements read model (lifecycle's private-use events, P1) ----------------------------


def _agreement_state(a: PrivateUseAgreement) -> dict[str, Any]:
    return {"person_id": a.person_id, "subscription_id": _text(a.subscription_id),
            "valid_from": _text(a.valid_from), "ended_on": _text(a.ended_on)}


async def on_private_use_approved(session: AsyncSession, event: PrivateUseApproved) -> None:
    """Remember the agreement. A redelivery changes nothing; an end that arrived first stays."""
    repo = AgreementRepository(session)
    values = {"agreement_id": event.agreement_id, "person_id": event.person_id,
              "subscription_id": event.subscription_id, "approved_by": event.approved_by,
              "valid_from": event.valid_from}
    if await repo.insert_new(values):
        await record_audit(session, actor=SYSTEM, action="agreement.approved",
                           object_type="private-use-agreement",
                           object_id=str(event.agreement_id), after=_jsonable(values))
        return
    agreement = await repo.get(event.agreement_id)
    assert agreement is not None
    if agreement.valid_from is not None:
        return  # applied before (a redelivery under another event id)
    before = _agreement_state(agreement)
    agreement.person_id, agreement.subscription_id = event.person_id, event.subscription_id
    agreement.approved_by, agreement.valid_from = event.approved_by, event.valid_from
    agreement.updated_at = datetime.now(UTC)
    await record_audit(session, actor=SYSTEM, action="agreement.approved",
                       object_type="private-use-agreement", object_id=str(event.agreement_id),
                       before=before, after=_agreement_state(agreement))


async def on_private_use_ended(session: AsyncSession, event: PrivateUseEnded,
                               event_time: datetime) -> None:
    """The agreement's last day (inclusive). Re-published when HR corrects it: the newest
    event wins. Arriving before its approval, it is kept until the approval comes."""
    repo = AgreementRepository(session)
    values = {"agreement_id": event.agreement_id, "person_id": event.person_id,
              "subscription_id": event.subscription_id, "ended_on": event.ended_on,
              "end_reason": event.reason, "end_event_time": event_time}
    if await repo.insert_new(values):
        await record_audit(session, actor=SYSTEM, action="agreement.ended",
                           object_type="private-use-agreement",
                           object_id=str(event.agreement_id), after=_jsonable(values))
        return
    agreement = await repo.get(event.agreement_id)
    assert agreement is not None
    if agreement.end_event_time is not None and event_time <= agreement.end_event_time:
        return  # this end, or a newer correction of it, is applied already
    before = _agreement_state(agreement)
    agreement.ended_on, agreement.end_reason = event.ended_on, event.reason
    agreement.end_event_time, agreement.updated_at = event_time, datetime.now(UTC)
    await record_audit(session, actor=SYSTEM, action="agreement.ended",
                       object_type="private-use-agreement", object_id=str(event.agreement_id),
                       before=before, after=_agreement_state(agreement))


# --- flags: the head decides ---------------------------------------------------------------------


async def visible_units(session: AsyncSession, user: User) -> list[str] | None:
    """None: every unit (IT service, auditor); else the units the caller heads (and below)."""
    if user.roles & READ_ALL:
        return None
    if "department-head" not in user.roles:
        raise Forbidden("Flagged private costs are decided by the head of the unit (rule P2)")
    return await UnitRepository(session).headed_by(user.person_id)


async def resolve_flag(session: AsyncSession, *, user: User, flag_id: uuid.UUID,
                       charge_to: str, note: str | None) -> UsageFlag:
    usage = UsageRepository(session)
    flag = await usage.flag(flag_id, for_update=True)
    if flag is None:
        raise NotFound(f"Flag {flag_id} does not exist")
    headed = (await UnitRepository(session).headed_by(user.person_id)
              if "department-head" in user.roles else [])
    if flag.unit_id not in headed:
        raise Forbidden(f"Only the head of unit {flag.unit_id} decides who pays these private "
                        "costs (rules P1, P2)")
    rules.check_resolution(state=flag.state, charge_to=charge_to, person_id=flag.person_id)
    flag.state, flag.charge_to, flag.note = "resolved", charge_to, note
    flag.resolved_by, flag.resolved_at = user.person_id, datetime.now(UTC)
    rows = await usage.charge_flag(flag_id, charge_to)
    await record_audit(session, actor=user.person_id, action="usage-flag.resolve",
                       object_type="usage-flag", object_id=str(flag_id),
                       before={"state": "open"},
                       after={"state": "resolved", "charge_to": charge_to, "note": note,
                              "amount_sek": str(flag.amount_sek), "rows": rows})
    await add_event(session, PrivateCostResolved(
        flag_id=flag_id, subscription_id=flag.subscription_id,
        period=rules.period_label(flag.period), amount_sek=flag.amount_sek,
        charge_to=charge_to, resolved_by=user.person_id,  # type: ignore[arg-type]
        unit_id=flag.unit_id, cost_centre=flag.cost_centre, person_id=flag.person_id),
        subject=str(flag_id))
    return flag


# --- statements ----------------------------------------------------------------------------------


async def check_cost_centre_reader(session: AsyncSession, user: User, cost_centre: str) -> None:
    if user.roles & READ_ALL:
        return
    if "department-head" in user.roles and cost_centre in \
            await UnitRepository(session).cost_centres_headed_by(user.person_id):
        return
    raise Forbidden(f"Only the head of a unit paying into cost centre {cost_centre} reads its "
                    "statement (rule P2)")


def check_person_reader(user: User, person_id: str) -> None:
    if user.roles & READ_ALL or user.person_id == person_id:
        return
    raise Forbidden("You may read only your own statement")


async def statement(session: AsyncSession, *, period: date, cost_centre: str | None = None,
                    person_id: str | None = None) -> dict[str, Any]:
    lines = await UsageRepository(session).statement_lines(
        period=period, cost_centre=cost_centre, person_id=person_id)
    totals = {"unit": Decimal(0), "employee": Decimal(0), "flagged": Decimal(0)}
    for line in lines:
        totals[line["charged_to"]] += line["amount_sek"]
    return {"period": rules.period_label(period), "cost_centre": cost_centre,
            "person_id": person_id,
            "totals": {"unit_sek": totals["unit"], "employee_sek": totals["employee"],
                       "flagged_sek": totals["flagged"], "total_sek": sum(totals.values())},
            "lines": [{"number": li["msisdn"], **{k: li[k] for k in (
                "subscription_id", "person_id", "unit_id", "cost_centre", "category",
                "charged_to", "flag_id", "amount_sek")}} for li in lines]}


def statement_csv(body: dict[str, Any]) -> str:
    """The statement as CSV (RFC 4180, comma, decimal point), one row per statement line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(STATEMENT_COLUMNS)
    for line in body["lines"]:
        writer.writerow([body["period"], line["cost_centre"], line["unit_id"], line["number"],
                         line["person_id"] or "", line["category"], line["charged_to"],
                         f"{line['amount_sek']:.2f}", line["flag_id"] or ""])
    return out.getvalue()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v if v is None or isinstance(v, str) else str(v) for k, v in values.items()}
