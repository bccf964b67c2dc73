"""Consumed-sweep benchmark (rule C1): 1 M devices, 100 k of them on models whose security
updates ended, against the raw ceiling measured in the same run on the same data.

* the sweep: `SweepRepository.consume`, the one statement the service runs — UPDATE … RETURNING,
  reopened order lines, one history/audit row per device, one CloudEvents outbox row per device
  (built in SQL, same envelope as add_event) — committed;
* the raw ceiling: the bare minimum that still publishes — one UPDATE … RETURNING feeding one
  INSERT … SELECT of a small JSON row per device into the same outbox — committed.

Between runs the devices are put back (not timed) and the table vacuumed; rounds alternate the
order so neither side always runs on a warmer cache. Rerunning the sweep is timed as well: it
must find nothing and publish nothing.

    python -m bench.inventory_sweep [--devices 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.inventory_data import ENDED_MODELS, MODELS, TODAY, bench_database, grow_to, median
from services.inventory.repository import SweepRepository
from shared.db import transaction

RAW = """
WITH consumed AS (
    UPDATE inventory.devices d
    SET state = 'consumed', consumed_reason = 'security-updates-ended', consumed_on = :today
    FROM inventory.device_models m
    WHERE m.model_id = d.model_id AND m.security_updates_end <= :today
      AND d.state IN ('in-stock', 'reserved', 'issued', 'in-repair', 'returned')
    RETURNING d.device_id, d.model_id
)
INSERT INTO inventory.outbox (event_id, routing_key, envelope)
SELECT gen_random_uuid()::text, 'inventory.device-consumed.v1',
       jsonb_build_object('device_id', device_id, 'model_id', model_id)
FROM consumed"""


async def sweep(sessions: async_sessionmaker[AsyncSession]) -> tuple[float, int]:
    started = time.perf_counter()
    async with transaction(sessions) as session:
        result = await SweepRepository(session).consume(today=TODAY, actor="bench")
    return time.perf_counter() - started, result.consumed


async def raw(engine: AsyncEngine) -> tuple[float, int]:
    started = time.perf_counter()
    async with engine.begin() as connection:
        rows = (await connection.execute(text(RAW), {"today": TODAY})).rowcount
    return time.perf_counter() - started, rows


async def reset(engine: AsyncEngine) -> None:
    """Put the consumed devices back as they were generated, drop what the run wrote."""
    async with engine.begin() as connection:
        await connection.execute(text("""
            UPDATE inventory.devices SET consumed_reason = NULL, consumed_on = NULL,
                state = CASE WHEN holder_person_id IS NOT NULL THEN 'issued' ELSE 'in-stock' END
            WHERE state = 'consumed'"""))
        await connection.execute(text("TRUNCATE inventory.outbox, inventory.audit_log"))
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE inventory.devices"))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    expected = args.devices * ENDED_MODELS // MODELS
    print(f"consumed sweep over {args.devices} devices, {expected} to consume, "
          f"{args.rounds} rounds, {os.cpu_count()} cores")
    async with bench_database() as (engine, sessions):
        started = time.perf_counter()
        await grow_to(engine, 0, args.devices)
        print(f"  … generated in {time.perf_counter() - started:.1f} s")
        sweeps, raws, rerun = [], [], 0.0
        for round_no in range(args.rounds):
            for side in (("sweep", "raw") if round_no % 2 == 0 else ("raw", "sweep")):
                if side == "sweep":
                    seconds, count = await sweep(sessions)
                    sweeps.append(seconds)
                    if round_no == args.rounds - 1:
                        rerun, again = await sweep(sessions)
                        assert again == 0, f"a rerun consumed {again} devices"
                else:
                    seconds, count = await raw(engine)
                    raws.append(seconds)
                assert count == expected, f"{side} consumed {count}, expected {expected}"
                print(f"  round {round_no + 1}: {side:<5} {seconds:7.2f} s")
                await reset(engine)
        s, r = median(sweeps), median(raws)
        print(f"sweep (service statement):     {s:7.2f} s  {expected / s:9.0f} devices/s")
        print(f"raw UPDATE + outbox INSERT:    {r:7.2f} s  {expected / r:9.0f} devices/s")
        print(f"ratio sweep / raw:             {s / r:7.2f}x  (target <= 2x)")
        print(f"rerun (nothing left):          {rerun:7.3f} s  0 devices, 0 events")


if __name__ == "__main__":
    asyncio.run(main())
