"""Event backbone benchmark: outbox -> relay -> RabbitMQ -> consumer, one committed effect each.

Prints, from one run on this machine:
  * the raw aio-pika ceiling (persistent publish with confirms + consume with manual acks, same
    message size, a quorum queue like ours),
  * end-to-end events/s through the backbone and its ratio to the ceiling,
  * commit-to-effect latency p50/p99 at half of the measured end-to-end maximum, and the raw
    path's publish-to-ack latency at that rate in the same run (the broker's own share),
  * the same on the in-process transport,
  * 1, 2 and 4 competing consumer replicas (separate processes) on one queue: events/s, duplicates.

    python -m bench.events [--events 20000] [--replicas 1,2,4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aio_pika
import asyncpg
from sqlalchemy import text

from shared.db import asyncpg_dsn
from shared.events.base import encode, wrap
from shared.runtime import freeze_startup_heap, run_event_loop
from tests.harness import Probe, start_probe, unit_event
from tests.support.throwaway import throwaway_vhost

DATABASE_URL = os.environ.get("KM_BENCH_DATABASE_URL",
                              "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
BROKER_URL = os.environ.get("KM_BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")


@dataclass
class Figures:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


@asynccontextmanager
async def raw_queue(broker_url: str, prefix: str
                    ) -> AsyncIterator[tuple[aio_pika.abc.AbstractChannel,
                                             aio_pika.abc.AbstractQueue]]:
    """A quorum queue like ours, a channel with publisher confirms to publish to it, and one with
    the backbone's prefetch to consume from it; the queue is deleted afterwards."""
    connection = await aio_pika.connect(broker_url)
    async with connection:
        publish_channel = await connection.channel(publisher_confirms=True)
        consume_channel = await connection.channel()
        await consume_channel.set_qos(prefetch_count=256)
        queue = await consume_channel.declare_queue(
            f"{prefix}.{uuid.uuid4().hex[:8]}", durable=True, arguments={"x-queue-type": "quorum"})
        try:
            yield publish_channel, queue
        finally:
            await queue.delete(if_unused=False, if_empty=False)


async def raw_ceiling(broker_url: str, events: int, size: int) -> Figures:
    """Publish with confirms and consume with manual acks at once, as the backbone does."""
    async with raw_queue(broker_url, "bench.raw") as (publish_channel, queue):
        done = asyncio.Event()
        received = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= events:
                done.set()

        tag = await queue.consume(on_message)
        body = b"x" * size
        window = asyncio.Semaphore(1000)

        async def publish_one() -> None:
            async with window:
                await publish_channel.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=queue.name)

        started = time.perf_counter()
        await asyncio.gather(*(publish_one() for _ in range(events)))
        await done.wait()
        elapsed = time.perf_counter() - started
        await queue.cancel(tag)
    return Figures(events, elapsed)


async def raw_latency_at(broker_url: str, rate: float, seconds: float, warmup: float,
                         size: int) -> list[float]:
    """The raw path's latency at the backbone's measured rate, in the same run: every 10 ms a
    tick's messages are published at once (persistent, on a channel with publisher confirms, as
    the relay publishes) and the time from publish to the consumer's ack is taken. No database on
    either side, so what it shows is the broker's own share: a broker or VM stall shows here as in
    the backbone's p99."""
    async with raw_queue(broker_url, "bench.raw-latency") as (publish_channel, queue):
        sent: dict[bytes, float] = {}
        latencies: list[float] = []
        padding = b"x" * max(0, size - 16)
        per_tick, warmup_ticks = max(1, round(rate / 100)), int(warmup * 100)
        measured, all_in = int(seconds * 100) * per_tick, asyncio.Event()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await message.ack()
            started = sent.pop(message.body[:16], None)
            if started is not None:
                latencies.append(time.perf_counter() - started)
                if len(latencies) == measured:
                    all_in.set()

        tag = await queue.consume(on_message)
        loop = asyncio.get_running_loop()
        next_tick, publishing = loop.time(), set()
        for tick in range(warmup_ticks + int(seconds * 100)):
            for _ in range(per_tick):
                key = uuid.uuid4().bytes
                if tick >= warmup_ticks:
                    sent[key] = time.perf_counter()
                task = asyncio.ensure_future(publish_channel.default_exchange.publish(
                    aio_pika.Message(key + padding,
                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=queue.name))
                publishing.add(task)
                task.add_done_callback(publishing.discard)
            next_tick += 0.01
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
        await asyncio.gather(*publishing)
        await asyncio.wait_for(all_in.wait(), 60)
        await queue.cancel(tag)
    return latencies


async def wait_for_all(probe: Probe, expected: int, timeout: float = 600) -> float:
    """When the last effect committed (to the 20 ms poll). One asyncpg connection, not the
    probe's engine: the poll runs in the measured process, and through SQLAlchemy it cost
    ≈ 2.5 % of that process's CPU — work the raw ceiling does not do."""
    connection = await asyncpg.connect(asyncpg_dsn(DATABASE_URL))
    try:
        query = f'SELECT count(*) FROM "{probe.name}".effects'
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            count = await connection.fetchval(query)
            if count >= expected:
                return time.perf_counter()
            await asyncio.sleep(0.02)
        raise TimeoutError(f"only {count} of {expected} effects")
    finally:
        await connection.close()


async def duplicates(probe: Probe) -> int:
    async with probe.engine.connect() as connection:
        return int((await connection.execute(text(
            f'SELECT count(*) - count(DISTINCT key) FROM "{probe.name}".effects'))).scalar_one())


async def drop(probe: Probe) -> None:
    async with probe.engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA "{probe.name}" CASCADE'))


async def end_to_end(broker_url: str, kind: str, events: int, replicas: int = 0
                     ) -> tuple[Figures, int]:
    """Prefill the outbox, then time relay + broker + consumer(s) until every effect committed."""
    probe = await start_probe(DATABASE_URL, kind, broker_url, run_relay=False,
                              subscribe=replicas == 0, batch_size=500, prefetch=256)
    # Once started, as the services do (shared/cli.py). Each phase's probe is then never
    # collected: memory this short-lived process can spare.
    freeze_startup_heap()
    workers: list[asyncio.subprocess.Process] = []
    try:
        await probe.emit_many([f"k{i}" for i in range(events)], per_transaction=500)
        for _ in range(replicas):
            workers.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.replica", probe.name, DATABASE_URL, broker_url))
        if replicas:
            await wait_for_consumers(broker_url, probe.consumer.queue, workers)
        started = time.perf_counter()
        probe.start_relays(1)
        finished = await wait_for_all(probe, events)
        return Figures(events, finished - started), await duplicates(probe)
    finally:
        for worker in workers:
            worker.terminate()
            await worker.wait()
        await probe.stop()
        await drop(probe)


@dataclass
class Latencies:
    """Seconds from each event's commit: to its effect's commit, and to the relay claiming its
    outbox row (`sent_at` is `now()` of the relay's claim transaction, i.e. when that round
    began; the rest is publish, confirm, delivery and the consumer)."""

    to_effect: list[float]
    to_sent: list[float]


async def latency_at(broker_url: str, kind: str, rate: float, seconds: float,
                     warmup: float = 2.0) -> Latencies:
    """Emit at a steady rate, one small transaction every 10 ms; commit-to-effect latencies of
    what was emitted after `warmup` seconds at the same rate. The first half second of a run
    opens pool connections and prepares statements: 100-500 of its events took 50-110 ms, by
    themselves more than the 1 % that decides a 10-second run's p99 — a start-up cost, not the
    steady state the target is about (docs/performance.md)."""
    probe = await start_probe(DATABASE_URL, kind, broker_url, batch_size=500, prefetch=256)
    freeze_startup_heap()  # once started, as the services do (shared/cli.py)
    committed: dict[str, float] = {}
    emitted = 0
    per_tick = max(1, round(rate / 100))
    warmup_ticks = int(warmup * 100)
    try:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        for tick in range(warmup_ticks + int(seconds * 100)):
            keys = [f"t{tick}-{i}" for i in range(per_tick)]
            await probe.emit_many(keys, per_transaction=per_tick)
            emitted += per_tick
            if tick >= warmup_ticks:
                committed.update(dict.fromkeys(keys, time.time()))
            next_tick += 0.01
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
        await wait_for_all(probe, emitted)
        async with probe.engine.connect() as connection:
            rows = [(key, float(applied), float(sent)) for key, applied, sent in (
                await connection.execute(text(
                    'SELECT e.key, extract(epoch from e.applied_at), '
                    f'extract(epoch from o.sent_at) FROM "{probe.name}".effects e '
                    f'JOIN "{probe.name}".outbox o '
                    'ON o.event_id = e.event_id'))).all() if key in committed]
        return Latencies([applied - committed[key] for key, applied, _ in rows],
                         [sent - committed[key] for key, _, sent in rows])
    finally:
        await probe.stop()
        await drop(probe)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def wait_for_consumers(broker_url: str, queue: str,
                             workers: list[asyncio.subprocess.Process], timeout: float = 60
                             ) -> None:
    """Until every worker consumes from the queue: replica processes take seconds to start, and
    an event published before its queue is bound is returned unroutable (and retried later)."""
    connection = await aio_pika.connect(broker_url)
    async with connection:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if any(worker.returncode is not None for worker in workers):
                raise RuntimeError("a replica process exited while starting")
            channel = await connection.channel()
            try:
                declared = await channel.declare_queue(queue, passive=True)
                if (declared.declaration_result.consumer_count or 0) >= len(workers):
                    return
            except aio_pika.exceptions.ChannelNotFoundEntity:
                pass  # not declared yet
            finally:
                if not channel.is_closed:
                    await channel.close()
            await asyncio.sleep(0.1)
    raise TimeoutError(f"fewer than {len(workers)} consumers on {queue}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--latency-warmup", type=float, default=2.0,
                        help="seconds at the same rate before latencies are measured")
    parser.add_argument("--replicas", default="1,2,4")
    args = parser.parse_args()
    freeze_startup_heap()  # as the services' entry point does (shared/cli.py)
    # A vhost of its own, deleted at the end: queues of earlier runs left on the broker keep it
    # busy (each quorum queue ticks) and would slow this run.
    with throwaway_vhost(BROKER_URL, "km-bench") as broker_url:
        await run(args, broker_url)


async def run(args: argparse.Namespace, broker_url: str) -> None:
    size = len(encode(wrap(unit_event("k12345"))))
    print(f"message size {size} bytes, {args.events} events, {os.cpu_count()} cores")

    raw = await raw_ceiling(broker_url, args.events, size)
    print(f"raw aio-pika ceiling (confirms + manual acks):  {raw.rate:8.0f} msg/s")
    rabbit, dups = await end_to_end(broker_url, "rabbitmq", args.events)
    print(f"end to end, RabbitMQ:                            {rabbit.rate:8.0f} events/s  "
          f"ratio {rabbit.rate / raw.rate:.2f}  duplicates {dups}")
    latencies = await latency_at(broker_url, "rabbitmq", rabbit.rate / 2, args.latency_seconds,
                                 args.latency_warmup)
    print(f"commit-to-effect at {rabbit.rate / 2:.0f}/s:            "
          f"p50 {percentile(latencies.to_effect, 50) * 1000:.1f} ms  "
          f"p99 {percentile(latencies.to_effect, 99) * 1000:.1f} ms  "
          f"(n={len(latencies.to_effect)}, after {args.latency_warmup:.0f} s warm-up)")
    print(f"  of which commit to claimed by the relay:         "
          f"p50 {percentile(latencies.to_sent, 50) * 1000:.1f} ms  "
          f"p99 {percentile(latencies.to_sent, 99) * 1000:.1f} ms")
    raw_latencies = await raw_latency_at(broker_url, rabbit.rate / 2, args.latency_seconds,
                                         args.latency_warmup, size)
    print(f"raw aio-pika publish-to-ack at {rabbit.rate / 2:.0f}/s:      "
          f"p50 {percentile(raw_latencies, 50) * 1000:.1f} ms  "
          f"p99 {percentile(raw_latencies, 99) * 1000:.1f} ms  (n={len(raw_latencies)})")
    inproc, dups = await end_to_end(broker_url, "inprocess", args.events)
    print(f"end to end, in-process transport:                {inproc.rate:8.0f} events/s  "
          f"duplicates {dups}")
    latencies = await latency_at(broker_url, "inprocess", inproc.rate / 2,
                                 args.latency_seconds, args.latency_warmup)
    print(f"in-process commit-to-effect at {inproc.rate / 2:.0f}/s: "
          f"p50 {percentile(latencies.to_effect, 50) * 1000:.1f} ms  "
          f"p99 {percentile(latencies.to_effect, 99) * 1000:.1f} ms")
    for replicas in (int(r) for r in args.replicas.split(",") if r):
        figures, dups = await end_to_end(broker_url, "rabbitmq", args.events, replicas=replicas)
        print(f"{replicas} consumer replica process(es):                 "
              f"{figures.rate:8.0f} events/s  duplicates {dups}")


if __name__ == "__main__":
    run_event_loop(main())  # as the services run (shared/cli.py)
