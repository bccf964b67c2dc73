"""SQL of usage and costs (rule P2): private-use agreements, imports, usage rows, flags and the
monthly statements."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from opentelemetry import trace
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.domain_usage import AgreementSpan
from services.inventory.models import SCHEMA
from services.inventory.models_usage import (
    PrivateUseAgreement,
    UsageFlag,
    UsageImport,
    UsageRecord,
)
from shared.events.catalogue import PrivateCostFlagged
from shared.messaging.outbox import outbox_insert_from

# Imports serialise on this lock: two different files for the same number and month must not
# both pass the "not imported yet" check (P2 would charge twice).
_IMPORT_LOCK = 0x6B6D7573  # "kmus"
RECORD_COLUMNS = ("import_id", "line_no", "msisdn", "period", "category", "amount_sek",
                  "subscription_id", "unit_id", "cost_centre", "person_id", "charged_to",
                  "agreement_id", "flag_id")
FLAG_COLUMNS = ("flag_id", "import_id", "subscription_id", "msisdn", "period", "person_id",
                "unit_id", "cost_centre", "amount_sek", "reason", "state")


@dataclass(frozen=True)
class SubscriptionMatch:
    subscription_id: uuid.UUID
    unit_id: str
    cost_centre: str
    holder_person_id: str | None


class AgreementRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, agreement_id: uuid.UUID) -> PrivateUseAgreement | None:
        return (await self.session.execute(
            select(PrivateUseAgreement).where(PrivateUseAgreement.agreement_id == agreement_id)
            .with_for_update())).scalar_one_or_none()

    async def insert_new(self, values: dict[str, Any]) -> bool:
        """Insert unless it exists (a concurrent delivery); True when inserted."""
        result = await self.session.execute(
            insert(PrivateUseAgreement).values(**values).on_conflict_do_nothing()
            .returning(PrivateUseAgreement.agreement_id))
        return result.first() is not None

    async def spans_of(self, person_ids: Sequence[str]) -> dict[str, list[AgreementSpan]]:
        a = PrivateUseAgreement
        # Plain rows, not ORM objects: an import asks for thousands of people at once.
        rows = await self.session.execute(
            select(a.person_id, a.agreement_id, a.subscription_id, a.valid_from, a.ended_on)
            .where(a.person_id.in_(person_ids), a.valid_from.is_not(None)))
        spans: dict[str, list[AgreementSpan]] = defaultdict(list)
        for person_id, agreement_id, subscription_id, valid_from, ended_on in rows.tuples():
            assert valid_from is not None
            spans[person_id].append(AgreementSpan(agreement_id, subscription_id, valid_from,
                                                  ended_on))
        return spans


class UsageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_imports(self) -> None:
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                   {"k": _IMPORT_LOCK})

    async def import_by_hash(self, sha256: str) -> UsageImport | None:
        return (await self.session.execute(
            select(UsageImport).where(UsageImport.content_sha256 == sha256))
        ).scalar_one_or_none()

    async def get_import(self, import_id: uuid.UUID) -> UsageImport | None:
        return await self.session.get(UsageImport, import_id)

    async def add_import(self, row: UsageImport) -> None:
        self.session.add(row)
        await self.session.flush()

    async def subscriptions_for(self, pairs: Sequence[tuple[str, date]]
                                ) -> dict[tuple[str, date], SubscriptionMatch]:
        """The subscription that had each number during each month (the latest activated, when a
        number changed hands within the month); months are Swedish calendar months."""
        if not pairs:
            return {}
        rows = await self.session.execute(text(f"""
            SELECT DISTINCT ON (k.msisdn, k.period) k.msisdn, k.period, s.subscription_id,
                   s.unit_id, s.cost_centre, s.holder_person_id
            FROM unnest(CAST(:msisdns AS text[]), CAST(:periods AS date[])) AS k(msisdn, period)
            JOIN {SCHEMA}.subscriptions s ON s.msisdn = k.msisdn
             AND s.activated_at IS NOT NULL
             AND s.activated_at < (k.period + interval '1 month')::timestamp
                                  AT TIME ZONE 'Europe/Stockholm'
             AND (s.terminated_at IS NULL
                  OR s.terminated_at >= k.period::timestamp AT TIME ZONE 'Europe/Stockholm')
            ORDER BY k.msisdn, k.period, s.activated_at DESC"""),
            {"msisdns": [p[0] for p in pairs], "periods": [p[1] for p in pairs]})
        return {(r.msisdn, r.period): SubscriptionMatch(r.subscription_id, r.unit_id,
                                                        r.cost_centre, r.holder_person_id)
                for r in rows}

    async def imported_before(self, pairs: Sequence[tuple[str, date]]
                              ) -> dict[tuple[str, date], str]:
        """Number and month pairs some earlier import already charged, with that file's name."""
        if not pairs:
            return {}
        rows = await self.session.execute(text(f"""
            SELECT m.msisdn, m.period, i.source
            FROM unnest(CAST(:msisdns AS text[]), CAST(:periods AS date[])) AS k(msisdn, period)
            JOIN {SCHEMA}.usage_months m ON m.msisdn = k.msisdn AND m.period = k.period
            JOIN {SCHEMA}.usage_imports i ON i.import_id = m.import_id"""),
            {"msisdns": [p[0] for p in pairs], "periods": [p[1] for p in pairs]})
        return {(r.msisdn, r.period): r.source for r in rows}

    async def add_months(self, import_id: uuid.UUID, pairs: Sequence[tuple[str, date]]
                         ) -> None:
        """Claim each number's month for this import (unique: never charged twice)."""
        await self._copy("usage_months", ("msisdn", "period", "import_id"),
                         [(msisdn, period, import_id) for msisdn, period in pairs])

    async def _copy(self, table: str, columns: Sequence[str],
                    records: Sequence[tuple[Any, ...]]) -> None:
        """COPY rows in, inside the caller's transaction: a usage file has 100 000 rows, and an
        INSERT per row (or an ORM bulk insert) costs tens of times more."""
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(table, schema_name=SCHEMA, columns=list(columns),
                                           records=records)

    async def add_flags(self, flags: Sequence[tuple[Any, ...]]) -> None:
        """New open flags, as tuples of FLAG_COLUMNS."""
        if flags:
            await self._copy("usage_flags", FLAG_COLUMNS, flags)

    async def announce_flags(self, import_id: uuid.UUID, actor: str) -> int:
        """One audit entry and one private-cost-flagged event per flag of the import, set-based
        in one statement (the outbox rows are add_event's envelope, built in SQL; a test decodes
        them with the consumers' code). A usage file can open thousands of flags."""
        span = trace.get_current_span().get_span_context()
        trace_id = format(span.trace_id, "032x") if span.is_valid else None
        outbox_sql, params = outbox_insert_from(self.session, PrivateCostFlagged, "events",
                                                schema=SCHEMA)
        result = await self.session.execute(text(f"""
WITH flags AS (
    SELECT f.*, to_char(f.period, 'YYYY-MM') AS month, u.head_person_id
    FROM {SCHEMA}.usage_flags f LEFT JOIN {SCHEMA}.units u ON u.unit_id = f.unit_id
    WHERE f.import_id = :import_id
),
audited AS (
    INSERT INTO {SCHEMA}.audit_log (actor, action, object_type, object_id, after, trace_id)
    SELECT CAST(:actor AS text), 'usage-flag.open', 'usage-flag', f.flag_id::text,
           jsonb_build_object('subscription_id', f.subscription_id, 'period', f.month,
                              'amount_sek', f.amount_sek::text, 'reason', f.reason,
                              'import_id', f.import_id),
           CAST(:trace_id AS text)
    FROM flags f
),
events AS (
    SELECT f.flag_id::text AS subject,
           jsonb_build_object(
               'flag_id', f.flag_id, 'import_id', f.import_id,
               'subscription_id', f.subscription_id, 'phone_number', f.msisdn,
               'period', f.month, 'amount_sek', f.amount_sek::text, 'reason', f.reason,
               'unit_id', f.unit_id, 'cost_centre', f.cost_centre, 'person_id', f.person_id,
               'head_person_id', f.head_person_id) AS data
    FROM flags f
),
outboxed AS (
{outbox_sql}
)
SELECT count(*) FROM flags"""), {**params, "import_id": import_id, "actor": actor,
                                 "trace_id": trace_id})
        return int(result.scalar_one())

    async def copy_records(self, records: Sequence[tuple[Any, ...]]) -> None:
        """Usage rows, as tuples of RECORD_COLUMNS."""
        await self._copy("usage_records", RECORD_COLUMNS, records)

    async def flag(self, flag_id: uuid.UUID, *, for_update: bool = False) -> UsageFlag | None:
        query = select(UsageFlag).where(UsageFlag.flag_id == flag_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def charge_flag(self, flag_id: uuid.UUID, charge_to: str) -> int:
        result = await self.session.execute(
            update(UsageRecord).where(UsageRecord.flag_id == flag_id)
            .values(charged_to=charge_to))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def flags(self, *, unit_ids: Sequence[str] | None, state: str | None,
                    period: date | None, limit: int) -> Sequence[UsageFlag]:
        query = select(UsageFlag)
        if unit_ids is not None:
            query = query.where(UsageFlag.unit_id.in_(unit_ids))
        if state is not None:
            query = query.where(UsageFlag.state == state)
        if period is not None:
            query = query.where(UsageFlag.period == period)
        query = query.order_by(UsageFlag.opened_at.desc(), UsageFlag.flag_id).limit(limit)
        return (await self.session.execute(query)).scalars().all()

    async def statement_lines(self, *, period: date, cost_centre: str | None = None,
                              person_id: str | None = None) -> list[dict[str, Any]]:
        """Sums per number, category and payer for one month: a cost centre's, or what an
        employee pays (and what may still be charged to them: flagged)."""
        r = UsageRecord.__table__
        query = (select(r.c.msisdn, r.c.subscription_id, r.c.person_id, r.c.unit_id,
                        r.c.cost_centre, r.c.category, r.c.charged_to, r.c.flag_id,
                        func.sum(r.c.amount_sek).label("amount_sek"))
                 .where(r.c.period == period)
                 .group_by(r.c.msisdn, r.c.subscription_id, r.c.person_id, r.c.unit_id,
                           r.c.cost_centre, r.c.category, r.c.charged_to, r.c.flag_id)
                 .order_by(r.c.msisdn, r.c.category, r.c.charged_to))
        if cost_centre is not None:
            query = query.where(r.c.cost_centre == cost_centre)
        if person_id is not None:
            query = query.where(r.c.person_id == person_id,
                                r.c.charged_to.in_(("employee", "flagged")))
        return [dict(row._mapping) for row in await self.session.execute(query)]
