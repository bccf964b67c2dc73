"""The consumed sweep (rule C1) as one set-based statement.

One `WITH` statement finds the models that are consumed (security updates ended, or an app the job
needs wants a higher OS than the model runs), marks every device of them that is still in use
consumed (`UPDATE … RETURNING`), closes their open repairs as `abandoned` (audited), reopens the
order lines their reservations filled, writes one history/audit entry per device and one
`device-consumed` outbox row per device (`INSERT … SELECT`, through the same outbox and envelope
as `add_event`). A device already consumed does not match, so a rerun changes and publishes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from opentelemetry import trace
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.domain import SWEEPABLE_STATES
from services.inventory.models import SCHEMA
from shared.db import transaction_lock, try_transaction_lock
from shared.events.catalogue import DeviceConsumed
from shared.messaging.outbox import outbox_insert_from

_LOCK_KEY = "inventory.consumed-sweep"


@dataclass(frozen=True)
class SweepResult:
    security_updates_ended: int
    required_app_unsupported: int
    skipped: bool = False

    @property
    def consumed(self) -> int:
        return self.security_updates_ended + self.required_app_unsupported


def _statement(session: AsyncSession) -> tuple[str, dict[str, object]]:
    states = ", ".join(f"'{state}'" for state in SWEEPABLE_STATES)
    outbox_sql, outbox_params = outbox_insert_from(session, DeviceConsumed, "events",
                                                   schema=SCHEMA)
    sql = f"""
WITH affected_models AS (
    SELECT m.model_id,
           CASE WHEN m.security_updates_end <= CAST(:today AS date)
                THEN 'security-updates-ended' ELSE 'required-app-unsupported' END AS reason
    FROM {SCHEMA}.device_models m
    WHERE m.security_updates_end <= CAST(:today AS date)
       OR EXISTS (SELECT 1 FROM {SCHEMA}.required_apps a
                  WHERE a.platform = m.platform AND a.min_os_key > m.max_os_key)
),
candidates AS (
    SELECT d.device_id, d.state AS before_state, am.reason
    FROM {SCHEMA}.devices d JOIN affected_models am ON am.model_id = d.model_id
    WHERE d.state IN ({states})
),
consumed AS (
    UPDATE {SCHEMA}.devices d
    SET state = 'consumed', consumed_reason = c.reason, consumed_on = CAST(:today AS date),
        version = d.version + 1, updated_at = now()
    FROM candidates c
    -- re-checked on the newest row version: a device changed meanwhile waits for the next run
    WHERE d.device_id = c.device_id AND d.state = c.before_state
    RETURNING d.device_id, d.model_id, d.holder_person_id, d.holder_unit_id, d.unit_id,
              c.reason, c.before_state
),
abandoned AS (
    -- rules S4, C1: the open repair of a consumed device is closed, or it would block every later
    -- intake of the device for good. No repair-completed (its v1 outcomes are returned-to-holder |
    -- replaced): device-consumed announces it. Locks device, then repair, as repairs.py does.
    UPDATE {SCHEMA}.repairs r
    SET state = 'abandoned', closed_by = CAST(:actor AS text), closed_at = now()
    FROM consumed c WHERE r.device_id = c.device_id AND r.state = 'in-repair'
    RETURNING r.repair_id, r.device_id, c.reason
),
repairs_audited AS (
    INSERT INTO {SCHEMA}.audit_log (actor, action, object_type, object_id, before, after,
                                    trace_id)
    SELECT CAST(:actor AS text), 'repair.abandoned', 'repair', a.repair_id::text,
           jsonb_build_object('state', 'in-repair'),
           jsonb_build_object('state', 'abandoned', 'because', 'device-consumed',
                              'device_id', a.device_id, 'reason', a.reason),
           CAST(:trace_id AS text)
    FROM abandoned a
),
reopened AS (
    UPDATE {SCHEMA}.fulfilment_lines l SET state = 'waiting', device_id = NULL
    FROM consumed c WHERE l.device_id = c.device_id AND l.state = 'reserved'
    RETURNING l.line_id
),
audited AS (
    INSERT INTO {SCHEMA}.audit_log (actor, action, object_type, object_id, before, after,
                                    trace_id)
    SELECT CAST(:actor AS text), 'device.consume', 'device', c.device_id::text,
           jsonb_build_object('state', c.before_state),
           jsonb_build_object('state', 'consumed', 'reason', c.reason,
                              'decided_on', CAST(:today AS date)),
           CAST(:trace_id AS text)
    FROM consumed c
),
events AS (
    SELECT c.device_id::text AS subject,
           jsonb_build_object(
               'device_id', c.device_id, 'model_id', c.model_id, 'reason', c.reason,
               'holder_person_id', c.holder_person_id,
               'unit_id', coalesce(c.holder_unit_id, c.unit_id),
               'decided_on', CAST(:today AS date)) AS data
    FROM consumed c
),
outboxed AS (
{outbox_sql}
)
SELECT c.reason, count(*) FROM consumed c GROUP BY c.reason"""
    return sql, outbox_params


class SweepRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self, *, wait: bool) -> bool:
        """One sweep at a time across replicas (a second one would find nothing anyway)."""
        if wait:
            await transaction_lock(self.session, _LOCK_KEY)
            return True
        return await try_transaction_lock(self.session, _LOCK_KEY)

    async def consume(self, *, today: date, actor: str) -> SweepResult:
        sql, params = _statement(self.session)
        span = trace.get_current_span().get_span_context()
        trace_id = format(span.trace_id, "032x") if span.is_valid else None
        rows = await self.session.execute(
            text(sql), {**params, "today": today, "actor": actor, "trace_id": trace_id})
        counts = {reason: int(count) for reason, count in rows.tuples()}
        return SweepResult(counts.get("security-updates-ended", 0),
                           counts.get("required-app-unsupported", 0))
