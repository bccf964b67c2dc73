"""SQL of MDM compliance reports and the U4/U5 findings they open and close."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.models import SCHEMA, ComplianceFinding, ComplianceReport


class ComplianceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_report(self, report_id: str, entries: int) -> bool:
        """False when this report was received before (the MDM retried its POST)."""
        result = await self.session.execute(
            insert(ComplianceReport)
            .values(report_id=report_id, entries=entries, violations_opened=0)
            .on_conflict_do_nothing().returning(ComplianceReport.report_id))
        return result.first() is not None

    async def report(self, report_id: str) -> ComplianceReport | None:
        return await self.session.get(ComplianceReport, report_id)

    async def open_finding(self, finding: dict[str, object]) -> bool:
        """Open a finding unless the same one is open already; True when it is new."""
        result = await self.session.execute(text(f"""
            INSERT INTO {SCHEMA}.compliance_findings
                (finding_id, rule, device_id, sim_iccid, imei, serial_number, detail,
                 report_id)
            VALUES (:finding_id, :rule, :device_id, :sim_iccid, :imei, :serial_number,
                    :detail, :report_id)
            ON CONFLICT (rule, coalesce(device_id::text, ''), coalesce(sim_iccid, ''),
                         coalesce(imei, ''), coalesce(serial_number, ''))
                WHERE closed_at IS NULL DO NOTHING
            RETURNING finding_id"""), finding)
        return result.first() is not None

    async def open_for(self, *, device_ids: Sequence[uuid.UUID], imeis: Sequence[str],
                       serials: Sequence[str] = ()) -> Sequence[ComplianceFinding]:
        if not device_ids and not imeis and not serials:
            return []
        rows = await self.session.execute(
            select(ComplianceFinding).where(
                ComplianceFinding.closed_at.is_(None),
                or_(ComplianceFinding.device_id.in_(device_ids),
                    ComplianceFinding.imei.in_(imeis),
                    ComplianceFinding.serial_number.in_(serials))))
        return rows.scalars().all()

    async def close(self, finding_ids: Sequence[uuid.UUID]) -> None:
        if finding_ids:
            await self.session.execute(
                update(ComplianceFinding).where(ComplianceFinding.finding_id.in_(finding_ids))
                .values(closed_at=func.now()))

    async def set_opened(self, report_id: str, count: int) -> None:
        await self.session.execute(
            update(ComplianceReport).where(ComplianceReport.report_id == report_id)
            .values(violations_opened=count))

    async def findings(self, *, open_only: bool, limit: int) -> Sequence[ComplianceFinding]:
        query = select(ComplianceFinding)
        if open_only:
            query = query.where(ComplianceFinding.closed_at.is_(None))
        query = query.order_by(ComplianceFinding.opened_at.desc()).limit(limit)
        return (await self.session.execute(query)).scalars().all()
