"""CSV import of an existing device list (municipalities keep them in spreadsheets).

Every row is validated before anything is written; a bad row is reported with its line number and
reason, and an import with any bad row writes nothing (the caller's one transaction). Columns:

    serial_number,model_id,imei,os_version,state,holder_person_id,holder_unit_id,unit_id,
    terms_acknowledged_at,acknowledged_by

`serial_number` and `model_id` are required; `state` is `in-stock` (default) or `issued`, and an
issued device names exactly one holder (rule U8) and its unit. The reason for the intake without an
order (rule O1) is recorded as "imported from <file>".

An imported issued device meets B1 and B2 as an issued one does. Its holder acknowledged the
ownership terms before the import (on paper): `terms_acknowledged_at` says when, as an ISO date
(the start of that day in Europe/Stockholm) or date and time (Europe/Stockholm unless it carries
an offset), not in the future and not before the current terms apply; `acknowledged_by` says who,
by default the holder of a personal device (who alone may acknowledge it), for a shared one the
person who received it for the unit (required). The acknowledgement is stored (terms version and
hash of the current terms, recorded by the importing actor), and once every row is valid each
issued device is enrolled in the MDM (rule B2); an MDM that refuses or does not answer refuses the
whole import. A device in stock has neither column.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain, ports
from services.inventory.fulfilment import fill_backorders
from services.inventory.models import DeviceModel
from services.inventory.records import municipal_zone
from services.inventory.repository import (
    AcknowledgementRepository,
    DeviceRepository,
    ModelRepository,
)
from services.inventory.service import record_received
from shared.errors import DomainError, RuleViolation
from shared.events.catalogue import DeviceIssued
from shared.messaging.outbox import add_events

COLUMNS = ("serial_number", "model_id", "imei", "os_version", "state", "holder_person_id",
           "holder_unit_id", "unit_id", "terms_acknowledged_at", "acknowledged_by")
REQUIRED = ("serial_number", "model_id")
ACKNOWLEDGEMENT = ("terms_acknowledged_at", "acknowledged_by")  # rule B1, issued rows only
# A paper acknowledgement is of the current terms only from the day they apply (B1-2020-10-22).
TERMS_APPLY_FROM = date.fromisoformat(domain.TERMS_VERSION.removeprefix("B1-"))
NO_ACKNOWLEDGEMENT = (
    "an issued device needs terms_acknowledged_at: when its holder acknowledged the ownership "
    "terms (rule B1); without it, import the device in-stock and hand it out through "
    "POST /v1/devices/{id}/issue")
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


@dataclass
class Row:
    """One valid row: the device's row and, for an issued device, its acknowledgement (B1)."""

    line: int
    device: dict[str, Any]
    acknowledgement: dict[str, Any] | None = None

    @property
    def history(self) -> dict[str, Any]:
        """What the device's import entry adds: the acknowledgement and the enrolment."""
        if self.acknowledgement is None:
            return {}
        return {"acknowledgement_id": str(self.acknowledgement["acknowledgement_id"]),
                "terms_acknowledged_at": self.acknowledgement["acknowledged_at"].isoformat(),
                "mdm_enrolment_id": self.device["mdm_enrolment_id"]}


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
             source: str, actor: str, *, now: datetime | None = None) -> Row:
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
    elif any(value(name) for name in ACKNOWLEDGEMENT):
        raise RuleViolation("a device in stock has no acknowledgement: terms_acknowledged_at and "
                            "acknowledged_by are for issued devices (rule B1)")
    device_id = uuid.uuid4()
    device = {"device_id": device_id, "kind": model.kind, "model_id": model.model_id,
              "imei": domain.check_device_identity(model.kind, value("imei")),
              "serial_number": record["serial_number"], "os_version": value("os_version"),
              "owner": "municipality", "state": state, "holder_person_id": person,
              "holder_unit_id": shared_unit, "unit_id": unit if state == "issued" else None,
              "order_id": None, "intake_exception": f"imported from {source}",
              "received_by": actor, "mdm_enrolment_id": None}
    if state != "issued":
        return Row(line, device)
    return Row(line, device, acknowledgement(
        domain.Holder(person, shared_unit), value("terms_acknowledged_at"),
        value("acknowledged_by"), device_id=device_id, actor=actor,
        now=now or datetime.now(UTC)))


def acknowledgement(holder: domain.Holder, acknowledged_at: str | None,
                    acknowledged_by: str | None, *, device_id: uuid.UUID, actor: str,
                    now: datetime) -> dict[str, Any]:
    """rule B1: the acknowledgement an imported issued device's holder gave before the import,
    as an acknowledgements row recorded by the importing actor."""
    if acknowledged_at is None:
        raise RuleViolation(NO_ACKNOWLEDGEMENT)
    person = acknowledged_by or holder.person_id
    if person is None:
        raise RuleViolation(f"a shared device needs acknowledged_by: the person who received it "
                            f"for unit {holder.unit_id} and acknowledged the ownership terms "
                            "(rule B1)")
    domain.check_acknowledgement(holder, person_id=person, accepted=True,
                                 terms_sha256=domain.TERMS_SHA256)
    return {"acknowledgement_id": uuid.uuid4(), "device_id": device_id, "person_id": person,
            "terms_version": domain.TERMS_VERSION, "terms_sha256": domain.TERMS_SHA256,
            "acknowledged_at": acknowledged_time(acknowledged_at, now), "recorded_by": actor}


def acknowledged_time(text: str, now: datetime) -> datetime:
    """An ISO date (its start in Europe/Stockholm) or date and time (Europe/Stockholm unless it
    carries an offset), not in the future, not before the current terms apply."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RuleViolation(f"terms_acknowledged_at {text!r} is not a date (2024-03-01) or a "
                            "date and time (2024-03-01T09:30) in ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=municipal_zone())
    if moment > now:
        raise RuleViolation(f"terms_acknowledged_at {text} is in the future: give the day the "
                            "holder acknowledged the ownership terms (rule B1)")
    if moment.astimezone(municipal_zone()).date() < TERMS_APPLY_FROM:
        raise RuleViolation(f"terms_acknowledged_at {text} is before the current ownership terms "
                            f"({domain.TERMS_VERSION}) applied: the holder acknowledges them anew; "
                            "import the device in-stock and issue it (rule B1)")
    return moment


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
    await _check_unique(session, rows, errors)
    if errors:
        errors.sort(key=lambda e: e["line"])
        more = f" (the first {MAX_REPORTED} are listed)" if len(errors) > MAX_REPORTED else ""
        raise ImportRefused(
            f"{len(errors)} of {len(records)} rows are invalid{more}; nothing was imported. "
            f"First: line {errors[0]['line']}: {errors[0]['message']}",
            errors=errors[:MAX_REPORTED])
    await _enrol(rows, models, report)
    devices, acknowledgements = DeviceRepository(session), AcknowledgementRepository(session)
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        await devices.insert_many([r.device for r in chunk])
        await acknowledgements.add_many([r.acknowledgement for r in chunk if r.acknowledgement])
        await record_received(session, actor, [r.device for r in chunk], models,
                              action="device.import",
                              extra={r.device["device_id"]: r.history for r in chunk})
        await _announce_issued(session, actor, chunk)
        report("import", min(start + CHUNK, len(rows)), len(rows))
    await fill_backorders(session, models=sorted(models))
    return ImportResult(imported=len(rows),
                        issued=sum(r.device["state"] == "issued" for r in rows))


def _validate_all(records: list[tuple[int, dict[str, str]]], models: dict[str, DeviceModel],
                  source: str, actor: str, report: Progress
                  ) -> tuple[list[Row], list[dict[str, Any]]]:
    rows, errors, now = [], [], datetime.now(UTC)
    for index, (line, record) in enumerate(records, start=1):
        try:
            rows.append(validate(line, record, models, source, actor, now=now))
        except DomainError as exc:
            errors.append({"line": line, "message": exc.detail})
        if index % CHUNK == 0 or index == len(records):
            report("validate", index, len(records))
    return rows, errors


async def _check_unique(session: AsyncSession, rows: list[Row], errors: list[dict[str, Any]]
                        ) -> None:
    """Serial numbers and IMEIs appear once in the file and are not registered yet."""
    first_seen: dict[tuple[str, str], int] = {}
    for row in rows:
        for name in ("serial_number", "imei"):
            if row.device[name] is None:
                continue
            earlier = first_seen.setdefault((name, row.device[name]), row.line)
            if earlier != row.line:
                errors.append({"line": row.line,
                               "message": f"{name} {row.device[name]} already on line {earlier}"})
    serials, imeis = await DeviceRepository(session).taken(
        serials=[r.device["serial_number"] for r in rows],
        imeis=[r.device["imei"] for r in rows if r.device["imei"]])
    for row in rows:
        for name, taken in (("serial_number", serials), ("imei", imeis)):
            if row.device[name] in taken:
                errors.append({"line": row.line,
                               "message": f"{name} {row.device[name]} is already registered"})


async def _enrol(rows: list[Row], models: dict[str, DeviceModel], report: Progress) -> None:
    """rule B2: every imported issued device is enrolled once all rows are valid, before
    anything is written. The MDM refusing or not answering refuses the whole import. Enrolled
    ones are not retired then: the MDM enrols a piece of hardware once (by serial number), so a
    retry finds the same enrolments, and a device already managed before the import must stay
    managed."""
    issued = [r for r in rows if r.acknowledgement is not None]
    for done, row in enumerate(issued, start=1):
        device = row.device
        try:
            device["mdm_enrolment_id"] = await ports.mdm().enrol(ports.MdmDevice(
                str(device["device_id"]), device["serial_number"], device["imei"],
                models[device["model_id"]].platform, device["model_id"]))
        except ports.ExternalSystemUnavailable as exc:
            raise ports.ExternalSystemUnavailable(
                f"The device management system (MDM) did not answer when the issued device on "
                f"line {row.line} was enrolled (rule B2); nothing was imported. Try again in a "
                "moment.") from exc
        except DomainError as exc:
            raise ImportRefused(
                f"The MDM refused to enrol the issued device on line {row.line} (rule B2); "
                f"nothing was imported: {exc.detail}",
                errors=[{"line": row.line, "message": exc.detail}]) from exc
        if done % CHUNK == 0 or done == len(issued):
            report("enrol", done, len(issued))


async def _announce_issued(session: AsyncSession, actor: str, rows: list[Row]) -> None:
    """Imported issued devices are announced like issued ones (lifecycle tracks holders, U7),
    with the acknowledgement (B1) and the enrolment (B2)."""
    await add_events(session, [
        (DeviceIssued(device_id=r.device["device_id"],
                      holder_person_id=r.device["holder_person_id"],
                      unit_id=r.device["unit_id"], issued_by=actor, kind=r.device["kind"],
                      model_id=r.device["model_id"],
                      terms_acknowledged_at=r.acknowledgement["acknowledged_at"],
                      mdm_enrolment_id=r.device["mdm_enrolment_id"]), str(r.device["device_id"]))
        for r in rows if r.acknowledgement is not None])
