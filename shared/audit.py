"""Audit trail: who did what to which object, with before/after, in the same transaction.

Under the public access principle (rule B1, P3) the audit log is a record that can be requested.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from pydantic_core import to_json
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Db, write_rows
from shared.messaging.tables import tables_of


async def record_audit(
    session: Db,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await record_audits(session, [{"actor": actor, "action": action, "object_type": object_type,
                                   "object_id": object_id, "before": before, "after": after}])


async def record_audits(session: Db, entries: list[dict[str, Any]]) -> None:
    """`record_audit` for many entries at once (sweeps): the same rows.

    Each entry has the keyword arguments of `record_audit` (actor, action, object_type,
    object_id, and optionally before / after). Straight to asyncpg: every state-changing request
    writes one (shared/db.py: driver). A missing before/after is SQL NULL.
    """
    span_context = trace.get_current_span().get_span_context()
    trace_id = format(span_context.trace_id, "032x") if span_context.is_valid else None
    rows = [(entry["actor"], entry["action"], entry["object_type"], entry["object_id"],
             _json(entry.get("before")), _json(entry.get("after")), trace_id)
            for entry in entries]
    sql = (f'INSERT INTO "{tables_of(session).schema}".audit_log (actor, action, object_type, '
           "object_id, before, after, trace_id) VALUES ($1, $2, $3, $4, $5, $6, $7)")
    await write_rows(session, sql, rows)


def _json(value: dict[str, Any] | None) -> str | None:
    # pydantic-core's encoder: a third of the standard library's time on these snapshots.
    return None if value is None else to_json(value).decode()


async def audit_entries(
    session: AsyncSession, *, object_type: str, object_id: str
) -> list[dict[str, Any]]:
    table = tables_of(session).audit_log
    rows = await session.execute(
        select(table)
        .where(table.c.object_type == object_type, table.c.object_id == object_id)
        .order_by(table.c.id)
    )
    return [dict(row._mapping) for row in rows]
