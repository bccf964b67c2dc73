"""Shared by the inventory benchmarks: a throwaway database with inventory's real schema (its
migrations), and a register of N devices generated set-based in SQL.

The register: 50 models (5 of them — a tenth of the devices — with security updates ended), 500
units, devices spread over the states as a municipality has them (70 % issued, 20 % in stock,
5 % in repair, 5 % returned), one person per 1.2 issued devices.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import make_engine
from shared.migrations import upgrade_to_head_async
from tests.support.throwaway import throwaway_database

ADMIN_URL = os.environ.get("KM_BENCH_DATABASE_URL",
                           "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
MIGRATIONS = Path(__file__).parents[1] / "services" / "inventory" / "migrations"
MODELS = 50
ENDED_MODELS = 5  # model_no < 5: security updates ended yesterday
UNITS = 500
TODAY = date.today()


@asynccontextmanager
async def bench_database() -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    async with throwaway_database(ADMIN_URL, "km_bench") as url:
        engine = make_engine(url, pool_size=4, application_name="kommunmobil-bench")
        try:
            await upgrade_to_head_async("inventory", MIGRATIONS, url)
            sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False,
                                          info={"schema": "inventory"})
            await _models(engine)
            yield engine, sessions
        finally:
            await engine.dispose()


async def _models(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("""
            INSERT INTO inventory.device_models (model_id, manufacturer, model, kind, tier,
                platform, security_updates_end, max_os_version, max_os_key)
            SELECT 'model-' || n, 'Maker', 'Model ' || n, 'phone',
                   (ARRAY['robust', 'simple', 'standard', 'advanced'])[1 + n % 4], 'android',
                   CASE WHEN n < :ended THEN CAST(:past AS date)
                        ELSE CAST(:future AS date) + n END,
                   '16', ARRAY[16]
            FROM generate_series(0, :models - 1) AS n"""),
            {"ended": ENDED_MODELS, "models": MODELS, "past": TODAY - timedelta(days=1),
             "future": TODAY + timedelta(days=400)})
        await connection.execute(text("""
            INSERT INTO inventory.units (unit_id, name, parent_unit_id, cost_centre,
                                         head_person_id, source_event_time)
            SELECT 'U' || n, 'Unit ' || n, NULL, '4' || n, 'head-' || n, now()
            FROM generate_series(0, :units - 1) AS n"""), {"units": UNITS})


async def grow_to(engine: AsyncEngine, start: int, stop: int) -> None:
    """Add devices number `start` .. `stop - 1` (set-based, in batches), then ANALYZE."""
    for low in range(start, stop, 200_000):
        high = min(stop, low + 200_000)
        async with engine.begin() as connection:
            await connection.execute(text("""
                INSERT INTO inventory.devices (device_id, kind, model_id, imei, serial_number,
                    os_version, owner, state, holder_person_id, unit_id, intake_exception,
                    received_by)
                SELECT gen_random_uuid(), 'phone', 'model-' || (i % :models),
                       lpad(i::text, 15, '0'), 'SN' || i, '14', 'municipality', s.state,
                       CASE WHEN s.state IN ('issued', 'in-repair')
                            THEN 'p-' || (i * 5 / 6) END,
                       CASE WHEN s.state IN ('issued', 'in-repair')
                            THEN 'U' || (i % :units) END,
                       'bench', 'bench'
                FROM generate_series(:low, :high - 1) AS i,
                     LATERAL (SELECT CASE WHEN i % 20 < 14 THEN 'issued'
                                          WHEN i % 20 < 18 THEN 'in-stock'
                                          WHEN i % 20 < 19 THEN 'in-repair'
                                          ELSE 'returned' END AS state) AS s"""),
                {"low": low, "high": high, "models": MODELS, "units": UNITS})
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE inventory.devices"))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)
