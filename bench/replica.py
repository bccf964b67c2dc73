"""One competing consumer replica for the benchmark: consumes the probe's queue until killed."""

from __future__ import annotations

import asyncio
import sys

from shared.runtime import freeze_startup_heap, run_event_loop
from tests.harness import start_probe


async def main(schema: str, database_url: str, broker_url: str) -> None:
    freeze_startup_heap()  # as the services' entry point does (shared/cli.py)
    probe = await start_probe(database_url, "rabbitmq", broker_url, name=schema,
                              create_schema=False, run_relay=False, prefetch=256)
    freeze_startup_heap()  # and again once started, as the services do
    try:
        await asyncio.Event().wait()
    finally:
        await probe.stop()


if __name__ == "__main__":
    run_event_loop(main(*sys.argv[1:4]))  # as the services run (shared/cli.py)
