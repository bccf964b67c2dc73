"""MDM compliance reports in (rules U4, U5): open a finding and publish compliance-violation when
a device breaks a rule, close it when a later report shows it fixed. Never commits.

A finding stays open while the device keeps breaking the rule, so a device reported every night
raises one compliance-violation, not one per night; a re-posted report (same report_id) is a no-op.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain
from services.inventory.models import ComplianceFinding, Device
from services.inventory.repository import (
    ComplianceRepository,
    DeviceRepository,
    TelephonyRepository,
)
from services.inventory.schemas import ComplianceReportIn, ComplianceReportOut, ReportedDevice
from shared.audit import record_audit
from shared.events.catalogue import ComplianceViolation
from shared.messaging.outbox import add_event

# rule, then what the finding is about: our device, or else the SIM in a device known by its IMEI
# or, reported without one, by its serial number (so the next report can close it).
FindingKey = tuple[str, uuid.UUID | None, str | None, str | None, str | None]


def _clean(value: str | None) -> str | None:
    return value.replace(" ", "").replace("-", "") if value else None


def _key_of(finding: ComplianceFinding) -> FindingKey:
    return (finding.rule, finding.device_id, finding.sim_iccid, finding.imei,
            finding.serial_number)


async def receive_report(session: AsyncSession, *, actor: str, data: ComplianceReportIn
                         ) -> ComplianceReportOut:
    repo = ComplianceRepository(session)
    if not await repo.record_report(data.report_id, len(data.devices)):
        stored = await repo.report(data.report_id)
        assert stored is not None
        return ComplianceReportOut(report_id=data.report_id, entries=stored.entries,
                                   violations_opened=stored.violations_opened, duplicate=True)
    imeis = [i for i in (_clean(e.imei) for e in data.devices) if i]
    serials = [e.serial_number for e in data.devices if e.serial_number]
    devices = await DeviceRepository(session).by_identity(imeis=imeis, serials=serials)
    by_imei = {d.imei: d for d in devices if d.imei}
    by_serial = {d.serial_number: d for d in devices}
    iccids = [i for e in data.devices for i in (_clean(s) for s in e.sim_iccids) if i]
    ours = set(await TelephonyRepository(session).sims_by_iccid(iccids))
    still_open = await repo.open_for(device_ids=[d.device_id for d in devices], imeis=imeis,
                                     serials=serials)
    opened, seen, reported = 0, set[FindingKey](), set[uuid.UUID]()
    for entry in data.devices:
        device = by_imei.get(_clean(entry.imei) or "") or by_serial.get(entry.serial_number or "")
        # A device handed to the supplier is no longer the municipality's (rule C2).
        if device is not None and device.state == "handed-to-supplier":
            device = None
        if device is not None:
            reported.add(device.device_id)
        opened += await _apply_entry(session, repo, data.report_id, entry, device, ours, seen)
    # Close only what this report speaks about: findings of the devices (or IMEIs) it lists.
    stale = [f for f in still_open if _key_of(f) not in seen
             and (f.device_id in reported or (f.imei is not None and f.imei in set(imeis))
                  or (f.serial_number is not None and f.serial_number in set(serials)))]
    await repo.close([f.finding_id for f in stale])
    await repo.set_opened(data.report_id, opened)
    await record_audit(session, actor=actor, action="compliance.report",
                       object_type="compliance-report", object_id=data.report_id,
                       after={"entries": len(data.devices), "violations_opened": opened,
                              "findings_closed": [str(f.finding_id) for f in stale]})
    return ComplianceReportOut(report_id=data.report_id, entries=len(data.devices),
                               violations_opened=opened, duplicate=False)


async def _apply_entry(session: AsyncSession, repo: ComplianceRepository, report_id: str,
                       entry: ReportedDevice, device: Device | None, ours: set[str],
                       seen: set[FindingKey]) -> int:
    imei = _clean(entry.imei)
    sims = [(iccid, iccid in ours) for iccid in (_clean(s) for s in entry.sim_iccids) if iccid]
    if device is not None:
        device.passcode_set = entry.passcode_set
        device.compliance_checked_at = datetime.now(UTC)
    opened = 0
    for rule in domain.findings_kept_open(device_known=device is not None,
                                          passcode_set=entry.passcode_set):
        seen.add((rule, device.device_id if device else None, None, None, None))
    serial = entry.serial_number if device is None and imei is None else None
    for finding in domain.findings_for(imei=imei, device_known=device is not None,
                                       passcode_set=entry.passcode_set, sims=sims,
                                       serial_number=serial):
        device_id = device.device_id if device else None
        key: FindingKey = (finding.rule, device_id, finding.sim_iccid,
                           None if device else imei, serial)
        seen.add(key)
        finding_id = uuid.uuid4()
        if not await repo.open_finding({"finding_id": finding_id, "rule": finding.rule,
                                        "device_id": device_id, "sim_iccid": finding.sim_iccid,
                                        "imei": key[3], "serial_number": serial,
                                        "detail": finding.detail, "report_id": report_id}):
            continue  # still open from an earlier report: announced then
        opened += 1
        await record_audit(session, actor="mdm", action="compliance.violation",
                           object_type="device" if device else "sim",
                           object_id=str(device_id) if device_id else finding.sim_iccid or "",
                           after={"rule": finding.rule, "detail": finding.detail,
                                  "finding_id": str(finding_id), "report_id": report_id})
        await add_event(session, ComplianceViolation(
            rule=finding.rule, device_id=device_id, sim_iccid=finding.sim_iccid,
            detail=finding.detail, report_id=report_id,
            holder_person_id=device.holder_person_id if device else None,
            unit_id=(device.holder_unit_id or device.unit_id) if device else None),
            subject=str(device_id) if device_id else finding.sim_iccid)
    return opened
