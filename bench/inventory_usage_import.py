"""Usage-import benchmark (rule P2): the operator's monthly file of 100 000 rows through the real
use case, against a raw COPY of the same file measured in the same run.

* the import: `usage.import_usage` — read and validate every row (line numbers), match each
  number and month to its subscription, the private-use agreements, split every row (P2), write
  the import, the flags (with their audit entries and private-cost-flagged events), COPY the
  usage rows, the import's audit entry and usage-imported — one transaction, committed;
* the raw ceiling: asyncpg's COPY of the same file into a table of four text columns, committed:
  what the hardware does with the bytes when nothing is checked, matched or decided;
* for reading the ratio, the write floor: the import's own 100 000 result rows COPYed once more
  into usage_records with its indexes (no reading, matching, deciding, flags or events).

The register: 20 000 active subscriptions over 500 units (one in ten shared by its unit), a third
of the people with a private-use agreement; the file has five rows per number (flat fee, calls
and data within the plan, roaming, international calls) for last month. Between rounds the
import's rows are removed (not timed); rounds alternate which side runs first. A re-import of the
same file is timed too: it must find the file's hash and change nothing.

    python -m bench.inventory_usage_import [--rows 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.inventory_data import UNITS, bench_database, median
from services.inventory import usage
from services.inventory.records import today
from services.inventory.repository.usage import RECORD_COLUMNS
from shared.db import transaction

CATEGORIES = ("flat-fee", "domestic-calls", "domestic-data", "roaming", "international-calls")


async def register(engine: AsyncEngine, numbers: int) -> None:
    """SIMs, numbers, active subscriptions and agreements, set-based."""
    async with engine.begin() as connection:
        await connection.execute(text("""
            INSERT INTO inventory.sims (sim_id, iccid, state, received_by)
            SELECT gen_random_uuid(), '8946' || lpad(i::text, 15, '0'), 'active', 'bench'
            FROM generate_series(0, :n - 1) AS i"""), {"n": numbers})
        await connection.execute(text("""
            INSERT INTO inventory.phone_numbers (msisdn, state)
            SELECT '+4670' || lpad(i::text, 7, '0'), 'active'
            FROM generate_series(0, :n - 1) AS i"""), {"n": numbers})
        await connection.execute(text("""
            INSERT INTO inventory.subscriptions (subscription_id, plan, calls, sms, mms,
                data_gb, cost_centre, unit_id, holder_person_id, sim_id, msisdn, state,
                activated_at)
            SELECT gen_random_uuid(), 'bench', true, true, true, 5, '4' || (i % :units),
                   'U' || (i % :units), CASE WHEN i % 10 = 0 THEN NULL ELSE 'p-' || i END,
                   s.sim_id, '+4670' || lpad(i::text, 7, '0'), 'active',
                   now() - interval '400 days'
            FROM generate_series(0, :n - 1) AS i
            JOIN inventory.sims s ON s.iccid = '8946' || lpad(i::text, 15, '0')"""),
            {"n": numbers, "units": UNITS})
        await connection.execute(text("""
            INSERT INTO inventory.private_use_agreements (agreement_id, person_id,
                approved_by, valid_from)
            SELECT gen_random_uuid(), 'p-' || i, 'head', CURRENT_DATE - 730
            FROM generate_series(0, :n - 1) AS i WHERE i % 3 = 1"""), {"n": numbers})
        await connection.execute(text(
            "CREATE TABLE inventory.usage_raw (number text, period text, category text, "
            "amount_sek text)"))
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE"))


def write_file(path: Path, numbers: int, rows: int) -> str:
    month = today().replace(day=1) - timedelta(days=1)
    period = f"{month.year:04d}-{month.month:02d}"
    rng = random.Random(7)
    lines = ["number,period,category,amount_sek"]
    for n in range(rows):
        number, category = n // len(CATEGORIES), CATEGORIES[n % len(CATEGORIES)]
        amount = "149.00" if category == "flat-fee" else f"{rng.randint(0, 40000) / 100:.2f}"
        lines.append(f"+4670{number % numbers:07d},{period},{category},{amount}")
    path.write_text("\n".join(lines) + "\n")
    return period


PHASES: dict[str, list[float]] = {}


async def service_import(sessions: async_sessionmaker[AsyncSession], content: bytes,
                         source: str) -> tuple[float, usage.UsageImportResult]:
    """The file's bytes are in memory already, as a request body is."""
    started = last = time.perf_counter()

    def report(phase: str, done: int, total: int) -> None:
        nonlocal last
        if done == total:  # the phase ended: how long it took
            now = time.perf_counter()
            PHASES.setdefault(phase, []).append(now - last)
            last = now

    async with transaction(sessions) as session:
        result = await usage.import_usage(session, actor="bench", content=content,
                                          source=source, progress=report)
    PHASES.setdefault("commit", []).append(time.perf_counter() - last)
    return time.perf_counter() - started, result


async def raw_copy(engine: AsyncEngine, path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    async with engine.begin() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        status = await driver.copy_to_table(
            "usage_raw", schema_name="inventory", source=path, format="csv", header=True)
    return time.perf_counter() - started, int(status.split()[-1])


async def rows_copy(engine: AsyncEngine) -> float:
    """The write floor: the import's own result rows COPYed again into usage_records, with its
    indexes — what writing the outcome costs when nothing is read, checked or decided."""
    columns = ", ".join(RECORD_COLUMNS)
    async with engine.begin() as connection:
        rows = (await connection.execute(text(
            f"SELECT {columns} FROM inventory.usage_records"))).all()
        await connection.execute(text("TRUNCATE inventory.usage_records"))
    records = [tuple(row) for row in rows]
    started = time.perf_counter()
    async with engine.begin() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.copy_records_to_table("usage_records", schema_name="inventory",
                                           columns=list(RECORD_COLUMNS), records=records)
    return time.perf_counter() - started


async def reset(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(
            "TRUNCATE inventory.usage_records, inventory.usage_flags, inventory.usage_months, "
            "inventory.usage_imports, inventory.usage_raw, inventory.outbox, "
            "inventory.audit_log"))
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE inventory.usage_records"))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    numbers = args.rows // len(CATEGORIES)
    print(f"usage import of {args.rows} rows ({numbers} numbers), {args.rounds} rounds, "
          f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "operator-usage.csv"
        period = write_file(path, numbers, args.rows)
        content = path.read_bytes()
        print(f"  file {path.stat().st_size / 1e6:.1f} MB for {period}")
        async with bench_database() as (engine, sessions):
            await register(engine, numbers)
            imports, raws, floors, rerun, result = [], [], [], 0.0, None
            for round_no in range(args.rounds):
                for side in (("import", "raw") if round_no % 2 == 0 else ("raw", "import")):
                    if side == "import":
                        seconds, result = await service_import(sessions, content, path.name)
                        assert result.rows == args.rows and not result.duplicate
                        imports.append(seconds)
                        floors.append(await rows_copy(engine))
                        if round_no == args.rounds - 1:
                            rerun, again = await service_import(sessions, content, path.name)
                            assert again.duplicate, "a re-import must change nothing"
                    else:
                        seconds, copied = await raw_copy(engine, path)
                        assert copied == args.rows, copied
                        raws.append(seconds)
                    print(f"  round {round_no + 1}: {side:<6} {seconds:7.2f} s")
                await reset(engine)
            assert result is not None
            i, r = median(imports), median(raws)
            t = result.totals
            print(f"split: {t.unit} SEK to cost centres, {t.employee} SEK to employees, "
                  f"{t.flagged} SEK flagged in {result.flags} flags")
            print(f"import (service use case):   {i:7.2f} s  {args.rows / i:9.0f} rows/s")
            print(f"raw COPY of the same file:   {r:7.2f} s  {args.rows / r:9.0f} rows/s")
            print(f"ratio import / raw COPY:     {i / r:7.1f}x")
            f = median(floors)
            print(f"write floor: COPY of the {args.rows} split rows into usage_records "
                  f"(its indexes): {f:.2f} s — import / floor {i / f:.1f}x")
            print("import phases (median s): " + ", ".join(
                f"{phase} {median(times):.2f}" for phase, times in PHASES.items()
                if len(times) == len(imports)))
            print(f"re-import (same file):       {rerun:7.3f} s  0 rows, 0 events")


if __name__ == "__main__":
    asyncio.run(main())
