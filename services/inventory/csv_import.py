"""CSV import of an existing device list (municipalities keep them in spreadsheets).

Every row is validated before anything is written; a bad row is reported with its line number and
reason, and an import with any bad row writes nothing (the caller's one transaction). Columns:

    serial_number,model_id,imei,os_version,state,holder_person_id,holder_unit_id,unit_id

`serial_number` and `model_id` are required; `state` is `in-stock` (default) or `issued`, and an
issued device names exactly one holder (rule U8) and its unit. The reason for the intake without an
order (rule O1) is recorded as "imported from <file>".
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain
from services.inventory.fulfilment import fill_backorders
from services.inventory.models import DeviceModel
from services.inventory.repository import DeviceRepository, ModelRepository
from services.inventory.service import record_received
from shared.errors import DomainError, RuleViolation
from shared.events.catalogue import DeviceIssued
from shared.messaging.outbox import add_events

COLUMNS = ("serial_number", "model_id", "imei", "os_version", "state", "holder_person_id",
           "holder_unit_id", "unit_id")
REQUIRED = ("serial_number", "model_id")
MAX_REPORTED = 200
CHUNK = 2000

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class ImportResult:
    imported: int = 0
    issued: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


class ImportRefused(RuleViolation):
    code, title = "import-refused", "The import was refused; nothing was imported"


def read_records(lines: Iterable[str]) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """(line number, record) per data row, and the problems with the header."""
    reader = csv.DictReader(lines)
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    problems = [f"missing column {c!r}" for c in REQUIRED if c not in header]
    problems += [f"unknown column {c!r}" for c in header if c not in COLUMNS]
    records = []
    for record in reader:
        values = {k: (v or "").strip() for k, v in record.items() if k is not None}
        if any(values.values()):
            records.append((reader.line_num, values))
    return records, problems


def validate(line: int, record: dict[str, str], models: dict[str, DeviceModel],
             source: str, actor: str) -> dict[str, Any]:
    """One row as a device row, or RuleViolation with the reason (no database)."""
    def value(name: str) -> str | None:
        return record.get(name) or None

    for name in REQUIRED:
        if not value(name):
            raise RuleViolation(f"{name} is empty")
    model = models.get(record["model_id"])
    if model is None:
        raise RuleViolation(f"model {record['model_id']!r} is not registered")
    if value("os_version"):
        domain.os_key(record["os_version"])
    state = value("state") or "in-stock"
    if state not in ("in-stock", "issued"):
        raise RuleViolation(f"state {state!r} cannot be imported (in-stock or issued)")
    person, shared_unit = value("holder_person_id"), value("holder_unit_id")
    unit = shared_unit or value("unit_id")
    if state == "issued":
        domain.Holder(person, shared_unit)  # rule U8
        if unit is None:
            raise RuleViolation("an issued device needs its unit_id")
        if shared_unit and value("unit_id") not in (None, shared_unit):
            raise RuleViolation("a shared device belongs to the unit that holds it (rule U8)")
    elif person or shared_unit:
        raise RuleViolation("a device in stock has no holder")
    return {"device_id": uuid.uuid4(), "kind": model.kind, "model_id": model.model_id,
            "imei": domain.check_device_identity(model.kind, value("imei")),
            "serial_number": record["serial_number"], "os_version": value("os_version"),
            "owner": "municipality", "state": state, "holder_person_id": person,
            "holder_unit_id": shared_unit, "unit_id": unit if state == "issued" else None,
            "order_id": None, "intake_exception": f"imported from {source}",
            "received_by": actor}


async def import_devices(session: AsyncSession, *, actor: str, lines: Iterable[str],
                         source: str, progress: Progress | None = None) -> ImportResult:
    """Validate all rows, then write all of them or raise ImportRefused (nothing written)."""
    report = progress or (lambda phase, done, total: None)
    records, problems = read_records(lines)
    if problems or not records:
        raise ImportRefused("The file's header is wrong: " + "; ".join(problems) if problems
                            else "The file has no device rows",
                            errors=[{"line": 1, "message": p} for p in problems])
    models = await ModelRepository(session).many(
        sorted({r.get("model_id", "") for _, r in records} - {""}))
    rows, errors = _validate_all(records, models, source, actor, report)
    await _check_unique(session, records, rows, errors)
    if errors:
        errors.sort(key=lambda e: e["line"])
        more = f" (the first {MAX_REPORTED} are listed)" if len(errors) > MAX_REPORTED else ""
        raise ImportRefused(
            f"{len(errors)} of {len(records)} rows are invalid{more}; nothing was imported. "
            f"First: line {errors[0]['line']}: {errors[0]['message']}",
            errors=errors[:MAX_REPORTED])
    devices = DeviceRepository(session)
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        await devices.insert_many(chunk)
        await record_received(session, actor, chunk, models, action="device.import")
        await _announce_issued(session, actor, chunk)
        report("import", min(start + CHUNK, len(rows)), len(rows))
    await fill_backorders(session, models=sorted(models))
    return ImportResult(imported=len(rows), issued=sum(r["state"] == "issued" for r in rows))


def _validate_all(records: list[tuple[int, dict[str, str]]], models: dict[str, DeviceModel],
                  source: str, actor: str, report: Progress
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, errors = [], []
    for index, (line, record) in enumerate(records, start=1):
        try:
            rows.append(validate(line, record, models, source, actor) | {"_line": line})
        except DomainError as exc:
            errors.append({"line": line, "message": exc.detail})
        if index % CHUNK == 0 or index == len(records):
            report("validate", index, len(records))
    return rows, errors


async def _check_unique(session: AsyncSession, records: list[tuple[int, dict[str, str]]],
                        rows: list[dict[str, Any]], errors: list[dict[str, Any]]) -> None:
    """Serial numbers and IMEIs appear once in the file and are not registered yet."""
    first_seen: dict[tuple[str, str], int] = {}
    for row in rows:
        for name in ("serial_number", "imei"):
            if row[name] is None:
                continue
            earlier = first_seen.setdefault((name, row[name]), row["_line"])
            if earlier != row["_line"]:
                errors.append({"line": row["_line"],
                               "message": f"{name} {row[name]} already on line {earlier}"})
    serials, imeis = await DeviceRepository(session).taken(
        serials=[r["serial_number"] for r in rows], imeis=[r["imei"] for r in rows if r["imei"]])
    for row in rows:
        for name, taken in (("serial_number", serials), ("imei", imeis)):
            if row[name] in taken:
                errors.append({"line": row["_line"],
                               "message": f"{name} {row[name]} is already registered"})
        row.pop("_line")


async def _announce_issued(session: AsyncSession, actor: str, rows: list[dict[str, Any]]
                           ) -> None:
    """Imported issued devices are announced like issued ones (lifecycle tracks holders, U7);
    no B1 acknowledgement exists for them (terms_acknowledged_at is empty)."""
    await add_events(session, [
        (DeviceIssued(device_id=r["device_id"], holder_person_id=r["holder_person_id"],
                      unit_id=r["unit_id"], issued_by=actor, kind=r["kind"],
                      model_id=r["model_id"]), str(r["device_id"]))
        for r in rows if r["state"] == "issued"])
