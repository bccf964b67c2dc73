"""Rule P2 as plain functions: reading the operator's usage rows and splitting each cost between
the unit's cost centre, the employee, and the head's decision. No database, no I/O.

P2: private use must cause the municipality no extra cost; exceptional private costs beyond the
flat-fee subscription — payment services, international calls, roaming — are paid by the
employee. The employee pays only under a private-use agreement (P1) that covers the whole month;
without one the extras are flagged and the head of the paying unit decides.
"""

from __future__ import annotations

import re
import uuid
from calendar import monthrange
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal

from services.inventory.domain import check_msisdn
from shared.errors import Conflict, RuleViolation

COLUMNS = ("number", "period", "category", "amount_sek")

CostKind = Literal["plan", "extra"]
# Flat fee and use within the plan are the job's cost (the cost centre pays); the extras are
# what P2 names as private costs beyond the flat fee. These are the categories the operator's
# file may use; which of them are private costs is the guideline's (policy-changed,
# `private_cost_categories`): the "extra" marks here apply only until inventory has received a
# policy (rules B5, P2).
CATEGORIES: dict[str, CostKind] = {
    "flat-fee": "plan",
    "domestic-calls": "plan",
    "domestic-sms": "plan",
    "domestic-mms": "plan",
    "domestic-data": "plan",
    "international-calls": "extra",
    "roaming": "extra",
    "premium-services": "extra",  # payment services, premium-rate numbers
}
MAX_AMOUNT = Decimal("1000000")
_AMOUNT = re.compile(r"-?\d+([.,]\d{1,2})?")
_PERIOD = re.compile(r"(\d{4})-(\d{2})")

Charge = Literal["unit", "employee", "flagged"]


@dataclass(frozen=True, slots=True)
class UsageRow:
    line: int
    msisdn: str
    period: date  # the first day of the month
    category: str
    amount: Decimal


# A file names each number five or more times and one or two months: read each once.
_msisdn = lru_cache(maxsize=1 << 16)(check_msisdn)


@lru_cache(maxsize=256)
def parse_period(text: str, *, today: date) -> date:
    match = _PERIOD.fullmatch(text.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise RuleViolation(f"period {text!r} must be a month, e.g. 2026-03")
    period = date(int(match.group(1)), int(match.group(2)), 1)
    if period > today:
        raise RuleViolation(f"period {text} has not begun yet")
    return period


def parse_amount(text: str) -> Decimal:
    """SEK with at most two decimals; a decimal comma and spaces between thousands are fine
    (Swedish spreadsheets write 1 234,50)."""
    cleaned = text.replace(" ", "").replace("\u00a0", "")
    if not _AMOUNT.fullmatch(cleaned):
        raise RuleViolation(f"amount {text!r} must be SEK with at most two decimals, "
                            "e.g. 149.00")
    amount = Decimal(cleaned.replace(",", "."))
    if abs(amount) >= MAX_AMOUNT:
        raise RuleViolation(f"amount {text} SEK is not a plausible monthly amount")
    return amount


def parse_row(line: int, record: dict[str, str], *, today: date) -> UsageRow:
    """One row of the file, or RuleViolation saying what is wrong with it."""
    for name in COLUMNS:
        if not record.get(name):
            raise RuleViolation(f"{name} is empty")
    category = record["category"].strip().lower()
    if category not in CATEGORIES:
        raise RuleViolation(f"category {record['category']!r} is unknown; known: "
                            + ", ".join(CATEGORIES))
    try:
        amount = parse_amount(record["amount_sek"])
    except InvalidOperation as exc:  # unreachable after the pattern, kept as a guard
        raise RuleViolation(f"amount {record['amount_sek']!r} is not a number") from exc
    return UsageRow(line, _msisdn(record["number"]), parse_period(record["period"],
                                                                  today=today),
                    category, amount)


_CANONICAL = re.compile(r"(\+46\d{7,10}),(\d{4}-(?:0[1-9]|1[0-2])),([a-z-]+),"
                        r"(-?\d{1,6}(?:\.\d{1,2})?)")


def parse_canonical(line: int, text: str, *, today: date) -> UsageRow | None:
    """The common case — a line written exactly as the operator writes it — read in one match.
    None sends the line through parse_row, which reads the other spellings and says what is
    wrong; both give the same row for a line both read."""
    match = _CANONICAL.fullmatch(text)
    if match is None or match.group(3) not in CATEGORIES:
        return None
    number, period, category, amount = match.groups()
    return UsageRow(line, number, parse_period(period, today=today), category, Decimal(amount))


@lru_cache(maxsize=256)
def period_label(period: date) -> str:
    return f"{period.year:04d}-{period.month:02d}"


@lru_cache(maxsize=256)
def period_end(period: date) -> date:
    return period.replace(day=monthrange(period.year, period.month)[1])


# --- the split ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementSpan:
    """A private-use agreement's days of validity: [valid_from, ended_on], both inclusive."""

    agreement_id: uuid.UUID
    subscription_id: uuid.UUID | None  # None: every subscription the person holds
    valid_from: date
    ended_on: date | None

    def applies_to(self, subscription_id: uuid.UUID) -> bool:
        return self.subscription_id is None or self.subscription_id == subscription_id

    def coverage(self, start: date, end: date) -> Literal["full", "partial", "none"]:
        last = self.ended_on or date.max
        if self.valid_from > end or last < start:
            return "none"
        return "full" if self.valid_from <= start and last >= end else "partial"


@dataclass(frozen=True)
class Allocation:
    charged_to: Charge
    agreement_id: uuid.UUID | None = None
    reason: str | None = None  # why it is flagged


UNIT = Allocation("unit")


def is_private(category: str, private: Collection[str] | None) -> bool:
    """rule P2: is `category` a private cost? By the policy's categories when there is a
    policy (None: none has arrived yet, and the CATEGORIES marks apply)."""
    return CATEGORIES[category] == "extra" if private is None else category in private


def allocate(category: str, *, subscription_id: uuid.UUID, holder_person_id: str | None,
             agreements: Iterable[AgreementSpan], period: date,
             private: Collection[str] | None = None) -> Allocation:
    """rule P2: who pays one usage row; `private`: the policy's private-cost categories."""
    if not is_private(category, private):
        return UNIT
    label = period_label(period)
    if holder_person_id is None:
        return Allocation("flagged", reason=(
            f"Private extras on a shared subscription in {label}: private use is agreed with a "
            "person, never a unit (rules P1, P2)"))
    start, end = period, period_end(period)
    partial = None
    for agreement in agreements:
        if not agreement.applies_to(subscription_id):
            continue
        coverage = agreement.coverage(start, end)
        if coverage == "full":
            return Allocation("employee", agreement.agreement_id)
        if coverage == "partial":
            partial = agreement
    if partial is not None:
        return Allocation("flagged", reason=(
            f"The private-use agreement {partial.agreement_id} of {holder_person_id} covers "
            f"only part of {label} (rule P2)"))
    return Allocation("flagged", reason=(
        f"Extras in {label} without a private-use agreement for {holder_person_id} "
        "(rules P1, P2)"))


def check_resolution(*, state: str, charge_to: str, person_id: str | None) -> None:
    """The head decides a flag once; the employee can pay only if the subscription has one."""
    if state != "open":
        raise Conflict("This flag has been decided already")
    if charge_to == "employee" and person_id is None:
        raise RuleViolation("A shared subscription has no employee to charge: charge the unit "
                            "(rule P2)")


@dataclass
class Totals:
    """What an import charged to whom, in SEK."""

    unit: Decimal = Decimal(0)
    employee: Decimal = Decimal(0)
    flagged: Decimal = Decimal(0)

    def add(self, charged_to: Charge, amount: Decimal) -> None:
        setattr(self, charged_to, getattr(self, charged_to) + amount)

    @property
    def total(self) -> Decimal:
        return self.unit + self.employee + self.flagged
