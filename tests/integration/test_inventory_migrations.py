"""Data migrations of inventory's schema, run by alembic on a database of their own."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
from alembic import command

import services.inventory
from shared.db import asyncpg_dsn
from shared.migrations import alembic_config, upgrade_to_head
from tests.conftest import ADMIN_DATABASE_URL
from tests.support.throwaway import throwaway_database

MIGRATIONS = Path(services.inventory.__file__).parent / "migrations"


async def test_s4_u9_c1_repairs_left_open_by_a_loss_or_the_sweep_are_abandoned() -> None:
    """Before inventory_0005 a device lost or consumed in repair left its repair open, which
    blocks every later intake of it, also once it turned up and went back to stock: the upgrade
    closes those as `abandoned`, audited; a repair whose device is still in repair stays open."""
    async with throwaway_database(ADMIN_DATABASE_URL, "km_migration") as url:
        await asyncio.to_thread(command.upgrade,
                                alembic_config("inventory", MIGRATIONS, url), "inventory_0006")
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await connection.execute(
                "INSERT INTO inventory.device_models (model_id, manufacturer, model, kind, "
                "platform, security_updates_end, max_os_version, max_os_key) VALUES "
                "('m-1', 'Samsung', 'XCover', 'phone', 'android', $1, '14', '{14}')",
                date(2030, 1, 1))
            repairs = {}
            for state, reason in (("lost", None), ("consumed", "security-updates-ended"),
                                  ("in-stock", None), ("in-repair", None)):
                device_id, repair_id = uuid.uuid4(), uuid.uuid4()
                await connection.execute(
                    "INSERT INTO inventory.devices (device_id, kind, model_id, serial_number, "
                    "state, holder_person_id, unit_id, intake_exception, received_by, "
                    "consumed_reason, consumed_on) VALUES ($1, 'phone', 'm-1', $2, $3, $4, "
                    "'SOC-A', 'bought before the register', 'it-1', $5, $6)",
                    device_id, f"SN-{state}", state, None if state == "in-stock" else "p-1", reason,
                    date(2026, 1, 1) if reason else None)
                await connection.execute(
                    "INSERT INTO inventory.repairs (repair_id, device_id, fault, "
                    "holder_person_id, warning_version, warning_sha256, warning_confirmed_by, "
                    "warning_confirmed_at, opened_by) VALUES ($1, $2, 'Cracked screen', 'p-1', "
                    "'S4-1', 'x', 'p-1', $3, 'it-1')", repair_id, device_id, datetime.now(UTC))
                repairs[state] = repair_id
            await asyncio.to_thread(upgrade_to_head, "inventory", MIGRATIONS, url)
            states = {name: tuple(await connection.fetchrow(
                "SELECT state, closed_by FROM inventory.repairs WHERE repair_id = $1",
                repair_id)) for name, repair_id in repairs.items()}
            audit = await connection.fetch(
                "SELECT object_id, action, after->>'because' FROM inventory.audit_log "
                "WHERE object_type = 'repair' ORDER BY object_id")
        finally:
            await connection.close()
    assert states == {"lost": ("abandoned", "migration:inventory_0007"),
                      "consumed": ("abandoned", "migration:inventory_0007"),
                      "in-stock": ("abandoned", "migration:inventory_0007"),
                      "in-repair": ("in-repair", None)}
    assert sorted(tuple(row) for row in audit) == sorted([
        (str(repairs["lost"]), "repair.abandoned", "device-lost"),
        (str(repairs["consumed"]), "repair.abandoned", "device-consumed"),
        (str(repairs["in-stock"]), "repair.abandoned", "device-left-repair")])
