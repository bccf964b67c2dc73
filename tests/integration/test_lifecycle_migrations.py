"""Data migrations of lifecycle's schema, run by alembic on a database of their own."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from pathlib import Path

import asyncpg
from alembic import command

import services.lifecycle
from shared.db import asyncpg_dsn
from shared.migrations import alembic_config, upgrade_to_head
from tests.conftest import ADMIN_DATABASE_URL
from tests.support.throwaway import throwaway_database

MIGRATIONS = Path(services.lifecycle.__file__).parent / "migrations"


async def test_u7_open_transfer_cases_move_to_the_last_day_at_the_upgrade() -> None:
    """Every open transfer case at the upgrade was due on the move's first day (the old rule):
    each moves one day earlier, audited; closed cases and other reasons keep their dates."""
    async with throwaway_database(ADMIN_DATABASE_URL, "km_migration") as url:
        await asyncio.to_thread(command.upgrade,
                                alembic_config("lifecycle", MIGRATIONS, url), "lifecycle_0004")
        cases = {name: uuid.uuid4() for name in ("open-move", "done-move", "open-end")}
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            for name, reason, status in (("open-move", "transferred", "open"),
                                         ("done-move", "transferred", "completed"),
                                         ("open-end", "employment-ended", "open")):
                await connection.execute(
                    "INSERT INTO lifecycle.return_cases (case_id, device_id, person_id, unit_id, "
                    "reason, due_date, status, opened_by) VALUES ($1, $2, 'p-1', 'SOC-A', $3, "
                    "$4, $5, 'hr')", cases[name], uuid.uuid4(), reason, date(2027, 3, 1), status)
            await asyncio.to_thread(upgrade_to_head, "lifecycle", MIGRATIONS, url)
            due = {name: await connection.fetchval(
                "SELECT due_date FROM lifecycle.return_cases WHERE case_id = $1", case_id)
                for name, case_id in cases.items()}
            audit = await connection.fetch(
                "SELECT object_id, actor, action FROM lifecycle.audit_log "
                "WHERE object_type = 'return-case'")
        finally:
            await connection.close()
    assert due == {"open-move": date(2027, 2, 28), "done-move": date(2027, 3, 1),
                   "open-end": date(2027, 3, 1)}
    assert [tuple(row) for row in audit] == [
        (str(cases["open-move"]), "migration:lifecycle_0005", "return-case.reschedule")]
