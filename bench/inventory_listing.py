"""Inventory listing benchmark: p50/p99 of one page (50 devices) at 10 k, 100 k and 1 M devices.

Each query runs the real use case (`service.list_devices`: the caller's scope, the filter, keyset
pagination, one transaction per call as a request has), at random depths (a random cursor), and
beside it the raw ceiling measured in the same run: the cheapest possible page, one prepared
asyncpg statement `WHERE device_id > $1 ORDER BY device_id LIMIT 51` on the same table.

    python -m bench.inventory_listing [--sizes 10000,100000,1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.inventory_data import TODAY, UNITS, bench_database, grow_to, percentile
from services.inventory import service
from services.inventory.repository import DeviceFilter
from shared.auth import User
from shared.db import asyncpg_dsn, transaction

IT = User("it-1", frozenset({"it-service"}))


def _cursor() -> str:
    return service.encode_cursor(uuid.uuid4())


def cases(size: int) -> dict[str, tuple[User, Callable[[], DeviceFilter], bool]]:
    """name -> (caller, filter, start at a random depth)."""
    unit = f"U{random.randrange(UNITS)}"
    return {
        "all, first page": (IT, DeviceFilter, False),
        "all, random depth": (IT, DeviceFilter, True),
        "state=in-stock": (IT, lambda: DeviceFilter(state="in-stock"), True),
        "model_id": (IT, lambda: DeviceFilter(model_id=f"model-{random.randrange(50)}"), True),
        "tier=simple": (IT, lambda: DeviceFilter(tier="simple"), True),
        "security updates end before": (IT, lambda: DeviceFilter(
            security_updates_before=TODAY + timedelta(days=410)), True),
        "unit_id": (IT, lambda: DeviceFilter(unit_id=f"U{random.randrange(UNITS)}"), False),
        "a head: own unit": (User(f"head-{unit[1:]}", frozenset({"department-head"})),
                             DeviceFilter, False),
        "a person: own devices": (User(f"p-{random.randrange(size * 5 // 6)}",
                                       frozenset({"employee"})), DeviceFilter, False),
    }


async def timed(call: Callable[[], Awaitable[object]], queries: int) -> list[float]:
    latencies = []
    for _ in range(queries):
        started = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def measure(sessions: async_sessionmaker[AsyncSession], size: int, queries: int
                  ) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    for name in cases(size):
        async def one(name: str = name) -> None:
            user, where, deep = cases(size)[name]
            async with transaction(sessions) as session:
                items, _ = await service.list_devices(
                    session, user=user, where=where(), cursor=_cursor() if deep else None,
                    limit=50)
                assert len(items) <= 50

        await timed(one, 5)  # warm the pool and the plan cache
        results[name] = await timed(one, queries)
    return results


async def raw_ceiling(url: str, queries: int) -> list[float]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        statement = await connection.prepare(
            "SELECT * FROM inventory.devices WHERE device_id > $1 ORDER BY device_id LIMIT 51")

        async def one() -> None:
            await statement.fetch(uuid.uuid4())

        await timed(one, 5)
        return await timed(one, queries)
    finally:
        await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"inventory listing, one page of 50, {args.queries} queries per case, "
          f"{os.cpu_count()} cores; p50 / p99 in ms")
    async with bench_database() as (engine, sessions):
        url = engine.url.render_as_string(hide_password=False)
        have = 0
        table: dict[str, dict[int, list[float]]] = {}
        for size in sizes:
            started = time.perf_counter()
            await grow_to(engine, have, size)
            have = size
            print(f"  … {size} devices generated in {time.perf_counter() - started:.1f} s")
            for name, latencies in (await measure(sessions, size, args.queries)).items():
                table.setdefault(name, {})[size] = latencies
            table.setdefault("raw ceiling (asyncpg, keyset)", {})[size] = await raw_ceiling(
                url, args.queries)
        header = "".join(f"{size:>22,}" for size in sizes)
        print(f"{'case':<34}{header}")
        for name, by_size in table.items():
            cells = "".join(f"{percentile(v, 50):>10.2f} /{percentile(v, 99):>8.2f}  "
                            for v in by_size.values())
            print(f"{name:<34}{cells}")


if __name__ == "__main__":
    asyncio.run(main())
