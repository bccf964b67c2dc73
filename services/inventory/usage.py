"""Import of the operator's monthly usage file and its cost split (rule P2). Never commits.

The file is CSV — `number,period,category,amount_sek`, comma- or semicolon-separated (a
semicolon file may write amounts with a decimal comma) — one row per number, month and category.
Every row is validated and matched to the subscription that had the number that month before
anything is written; any bad row refuses the whole file with every problem and its line number
(header = line 1). The same file imported again (same SHA-256) is a no-op; a different file for a
number and month already imported is refused, so nothing is ever charged twice.

Each row is then charged (domain_usage.allocate): flat fee and in-plan use to the subscription's
cost centre; private extras (the policy's `private_cost_categories`, policy.py) to the employee
under a private-use agreement covering the month; other extras are flagged — one flag per
subscription and month — for the head of the unit.
"""

from __future__ import annotations

import csv
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain_usage as rules
from services.inventory import policy
from services.inventory.csv_import import MAX_REPORTED, ImportRefused
from services.inventory.models_usage import UsageImport
from services.inventory.records import today
from services.inventory.repository import (
    AgreementRepository,
    SubscriptionMatch,
    UsageRepository,
)
from shared.audit import record_audit
from shared.errors import DomainError
from shared.events.catalogue import UsageImported
from shared.messaging.outbox import add_events

Progress = Callable[[str, int, int], None]  # (phase, done, total)
CHUNK = 5000


@dataclass
class UsageImportResult:
    import_id: uuid.UUID
    source: str
    periods: list[str]
    rows: int
    totals: rules.Totals
    flags: int
    duplicate: bool = False


@dataclass
class _Pending:
    """A flag being assembled: the extras of one subscription in one month."""

    flag_id: uuid.UUID
    row: rules.UsageRow
    match: SubscriptionMatch
    reason: str
    amount: Decimal = Decimal(0)


@dataclass
class _Split:
    records: list[tuple[Any, ...]] = field(default_factory=list)
    flags: dict[tuple[uuid.UUID, date], _Pending] = field(default_factory=dict)
    totals: rules.Totals = field(default_factory=rules.Totals)


def read_records(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """(line number, record) per data row, and the problems with the header."""
    lines = text.splitlines()
    first = lines[0] if lines else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    problems = [f"missing column {c!r}" for c in rules.COLUMNS if c not in header]
    problems += [f"unknown column {c!r}" for c in header if c not in rules.COLUMNS]
    records = []
    for values in reader:
        if any(v.strip() for v in values):
            records.append((reader.line_num, {name: value.strip() for name, value
                                              in zip(header, values, strict=False)}))
    return records, problems


def _refuse(errors: list[dict[str, Any]], rows: int) -> ImportRefused:
    errors.sort(key=lambda e: e["line"])
    more = f" (the first {MAX_REPORTED} are listed)" if len(errors) > MAX_REPORTED else ""
    return ImportRefused(
        f"{len(errors)} of {rows} rows are invalid{more}; nothing was imported. "
        f"First: line {errors[0]['line']}: {errors[0]['message']}", errors=errors[:MAX_REPORTED])


def _read(text: str) -> tuple[list[tuple[int, str | dict[str, str]]], list[str]]:
    """(line number, line or record) per data row, and the problems with the header. A plain
    comma file (no quoting) is split by lines, so each line can take the fast path; anything
    else goes through the csv reader."""
    lines = text.splitlines()
    header = [h.strip().lower() for h in lines[0].split(",")] if lines else []
    if '"' in text or header != list(rules.COLUMNS):
        records, problems = read_records(text)
        return list(records), problems
    return [(number, line) for number, line in enumerate(lines[1:], start=2)
            if line.strip()], []


def _row(line: int, value: str | dict[str, str], now: date) -> rules.UsageRow:
    if isinstance(value, str):
        row = rules.parse_canonical(line, value, today=now)
        if row is not None:
            return row
        value = dict(zip(rules.COLUMNS, (v.strip() for v in value.split(",")), strict=False))
    return rules.parse_row(line, value, today=now)


def parse(content: bytes, report: Progress) -> list[rules.UsageRow]:
    """Every row of the file, or ImportRefused listing every bad one (no database)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused("The file is not UTF-8 text; nothing was imported") from exc
    records, problems = _read(text)
    if problems or not records:
        raise ImportRefused("The file's header is wrong: " + "; ".join(problems) if problems
                            else "The file has no usage rows; nothing was imported",
                            errors=[{"line": 1, "message": p} for p in problems])
    rows, errors, now = [], [], today()
    for index, (line, record) in enumerate(records, start=1):
        try:
            rows.append(_row(line, record, now))
        except DomainError as exc:
            errors.append({"line": line, "message": exc.detail})
        if index % CHUNK == 0 or index == len(records):
            report("validate", index, len(records))
    if errors:
        raise _refuse(errors, len(records))
    return rows


async def _match(session: AsyncSession, rows: list[rules.UsageRow]
                 ) -> dict[tuple[str, date], SubscriptionMatch]:
    """The subscription of every row, or ImportRefused naming the rows that have none or were
    charged by an earlier file."""
    usage = UsageRepository(session)
    pairs = sorted({(r.msisdn, r.period) for r in rows})
    matches = await usage.subscriptions_for(pairs)
    earlier = await usage.imported_before(pairs)
    errors = []
    for row in rows:
        key = (row.msisdn, row.period)
        if key in earlier:
            errors.append({"line": row.line, "message": f"{row.msisdn} for "
                           f"{rules.period_label(row.period)} was imported already, from "
                           f"{earlier[key]}"})
        elif key not in matches:
            errors.append({"line": row.line, "message": f"{row.msisdn} had no subscription in "
                           f"the register during {rules.period_label(row.period)}"})
    if errors:
        raise _refuse(errors, len(rows))
    return matches


async def _split(session: AsyncSession, import_id: uuid.UUID, rows: list[rules.UsageRow],
                 matches: dict[tuple[str, date], SubscriptionMatch]) -> _Split:
    """rule P2, row by row: who pays, and the flags for the head."""
    people = sorted({m.holder_person_id for m in matches.values() if m.holder_person_id})
    spans = await AgreementRepository(session).spans_of(people)
    private = await policy.private_cost_categories(session)  # rules B5, P2
    split = _Split()
    for row in rows:
        match = matches[(row.msisdn, row.period)]
        allocation = rules.allocate(
            row.category, subscription_id=match.subscription_id,
            holder_person_id=match.holder_person_id,
            agreements=spans.get(match.holder_person_id or "", ()), period=row.period,
            private=private)
        flag_id = None
        if allocation.charged_to == "flagged":
            assert allocation.reason is not None
            pending = split.flags.setdefault(
                (match.subscription_id, row.period),
                _Pending(uuid.uuid4(), row, match, allocation.reason))
            pending.amount += row.amount
            flag_id = pending.flag_id
        split.totals.add(allocation.charged_to, row.amount)
        split.records.append((
            import_id, row.line, row.msisdn, row.period, row.category, row.amount,
            match.subscription_id, match.unit_id, match.cost_centre, match.holder_person_id,
            allocation.charged_to, allocation.agreement_id, flag_id))
    return split


async def import_usage(session: AsyncSession, *, actor: str, content: bytes, source: str,
                       progress: Progress | None = None) -> UsageImportResult:
    """Validate, match and split every row, then write all of them — or refuse the file."""
    report = progress or (lambda phase, done, total: None)
    sha256 = hashlib.sha256(content).hexdigest()
    usage = UsageRepository(session)
    if (done := await usage.import_by_hash(sha256)) is not None:
        return result_of(done, duplicate=True)
    rows = parse(content, report)
    await usage.lock_imports()
    if (done := await usage.import_by_hash(sha256)) is not None:  # imported while we parsed
        return result_of(done, duplicate=True)
    matches = await _match(session, rows)
    report("match", len(rows), len(rows))
    import_id = uuid.uuid4()
    split = await _split(session, import_id, rows, matches)
    report("split", len(rows), len(rows))
    periods = sorted({rules.period_label(r.period) for r in rows})
    totals = split.totals
    row = UsageImport(import_id=import_id, content_sha256=sha256, source=source,
                      periods=periods, rows=len(rows), total_sek=totals.total,
                      unit_sek=totals.unit, employee_sek=totals.employee,
                      flagged_sek=totals.flagged, flags=len(split.flags), imported_by=actor)
    await usage.add_import(row)
    await usage.add_months(import_id, sorted(matches))
    await _write_flags(session, import_id, split, actor)
    report("flags", len(split.flags), len(split.flags))
    for start in range(0, len(split.records), CHUNK * 4):
        await usage.copy_records(split.records[start:start + CHUNK * 4])
        report("write", min(start + CHUNK * 4, len(split.records)), len(split.records))
    await record_audit(session, actor=actor, action="usage.import", object_type="usage-import",
                       object_id=str(import_id), after={
                           "source": source, "sha256": sha256, "rows": len(rows),
                           "periods": periods, "unit_sek": str(totals.unit),
                           "employee_sek": str(totals.employee),
                           "flagged_sek": str(totals.flagged), "flags": len(split.flags)})
    await add_events(session, [(UsageImported(
        import_id=import_id, content_sha256=sha256, source=source, periods=tuple(periods),
        rows=len(rows), total_sek=totals.total, unit_sek=totals.unit,
        employee_sek=totals.employee, flagged_sek=totals.flagged, flags=len(split.flags),
        imported_by=actor), str(import_id))])
    return result_of(row, duplicate=False)


async def _write_flags(session: AsyncSession, import_id: uuid.UUID, split: _Split,
                       actor: str) -> None:
    """The flags, each with its audit entry and private-cost-flagged for the unit's head."""
    flags = list(split.flags.values())
    if not flags:
        return
    usage = UsageRepository(session)
    await usage.add_flags([  # FLAG_COLUMNS
        (f.flag_id, import_id, f.match.subscription_id, f.row.msisdn, f.row.period,
         f.match.holder_person_id, f.match.unit_id, f.match.cost_centre, f.amount, f.reason,
         "open") for f in flags])
    await usage.announce_flags(import_id, actor)


def result_of(row: UsageImport, *, duplicate: bool) -> UsageImportResult:
    return UsageImportResult(
        import_id=row.import_id, source=row.source, periods=list(row.periods), rows=row.rows,
        totals=rules.Totals(row.unit_sek, row.employee_sek, row.flagged_sek), flags=row.flags,
        duplicate=duplicate)
