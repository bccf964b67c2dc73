"""Checks and tools shared by the process fault tests (tests/faults/test_process_faults.py):
exactly-once over a probe's effects, what the broker itself says about a queue, the dead-letter
queue's contents, and probe processes (tests/faults/probe_process.py) that a test can kill."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
from sqlalchemy import text

from shared.events.catalogue import UnitRegistered
from shared.messaging.rabbitmq import dead_letter_queue_name, inbox_queue_arguments
from shared.messaging.transport import Delivery, Outcome, Transport
from tests.faults.probe_process import key_of, observed
from tests.harness import Probe

REPO = Path(__file__).resolve().parents[2]
ROUTING_KEY = UnitRegistered.routing_key()


async def subscribe_counting(probe: Probe) -> Counter[str]:
    """Subscribe the probe's consumer; count every delivery it sees, per key (dupes included)."""
    seen: Counter[str] = Counter()

    def count(deliveries: Sequence[Delivery], outcomes: Sequence[Outcome]) -> None:
        seen.update(key_of(delivery.body) for delivery in deliveries)

    await probe.transport.subscribe(observed(probe.consumer.subscription(), count))
    return seen


async def assert_exactly_once(probe: Probe, keys: Iterable[str], timeout: float = 60.0,
                              ) -> dict[str, int]:
    """Every key has exactly one effect and there is no other effect: 0 lost, 0 applied twice."""
    expected = set(keys)
    await probe.wait_for_effects(expected, timeout=timeout)
    await asyncio.sleep(0.5)  # a late duplicate would land now
    effects = await probe.effects()
    lost = sorted(expected - effects.keys())
    twice = {k: n for k, n in effects.items() if n != 1}
    unexpected = sorted(effects.keys() - expected)
    assert not lost and not twice and not unexpected, (
        f"lost {len(lost)} {lost[:10]}, applied more than once {twice}, unexpected {unexpected}")
    return effects


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.05,
                     ) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(interval)
    return True


async def scalar(probe: Probe, sql: str, **params: Any) -> Any:
    async with probe.engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar_one()


async def publish_all(transport: Transport, messages: list[tuple[bytes, str]]) -> None:
    """Confirmed publishes, 100 in flight at a time, in list order per chunk."""
    for start in range(0, len(messages), 100):
        await asyncio.gather(*(
            transport.publish(ROUTING_KEY, body, message_id=message_id, headers={})
            for body, message_id in messages[start:start + 100]))


def vhost_of(broker_url: str) -> str:
    return unquote(urlsplit(broker_url).path.lstrip("/")) or "/"


def queue_counts(broker_url: str, queue: str) -> dict[str, int]:
    """messages_ready / messages_unacknowledged / consumers, as the broker itself reports them."""
    done = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost_of(broker_url), "name",
         "messages_ready", "messages_unacknowledged", "consumers", "--formatter", "json"],
        check=True, capture_output=True, text=True, timeout=60)
    for row in json.loads(done.stdout or "[]"):
        if row["name"] == queue:
            return {k: int(row[k]) for k in
                    ("messages_ready", "messages_unacknowledged", "consumers")}
    raise AssertionError(f"queue {queue} not found in {vhost_of(broker_url)}")


async def declare_inbox(broker_url: str, probe: Probe) -> None:
    """The probe's queue, DLQ and bindings, exactly as RabbitTransport.subscribe declares them,
    without consuming: messages can be loaded before the consumer starts."""
    subscription = probe.consumer.subscription()
    dlx_name = f"{probe.name}.dead-letter"
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(f"{probe.name}.events",
                                                  aio_pika.ExchangeType.TOPIC, durable=True)
        dlx = await channel.declare_exchange(dlx_name, aio_pika.ExchangeType.DIRECT, durable=True)
        dlq_name = dead_letter_queue_name(subscription.queue)
        dlq = await channel.declare_queue(dlq_name, durable=True,
                                          arguments={"x-queue-type": "quorum"})
        await dlq.bind(dlx, routing_key=dlq_name)
        queue = await channel.declare_queue(
            subscription.queue, durable=True,
            arguments=inbox_queue_arguments(subscription.queue, dlx_name,
                                            subscription.delivery_limit))
        for key in subscription.routing_keys:
            await queue.bind(exchange, routing_key=key)


async def read_dead_letters(broker_url: str, probe: Probe, expected: int, timeout: float = 30.0,
                            ) -> list[aio_pika.abc.AbstractIncomingMessage]:
    found: list[aio_pika.abc.AbstractIncomingMessage] = []
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(dead_letter_queue_name(probe.consumer.queue))
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            message = await queue.get(fail=False, no_ack=True)
            if message is not None:
                found.append(message)
            elif len(found) >= expected:
                await asyncio.sleep(0.3)  # anything beyond `expected` would show up too
                if (extra := await queue.get(fail=False, no_ack=True)) is None:
                    break
                found.append(extra)
            else:
                await asyncio.sleep(0.1)
    return found


@dataclasses.dataclass
class ProbeProcess:
    """A `tests/faults/probe_process.py` child; its JSON stdout records are collected live."""

    process: asyncio.subprocess.Process
    log: Path
    records: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    ready: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, log: Path, role: str, database_url: str, broker_url: str, probe: str,
                    *options: str) -> ProbeProcess:
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.faults.probe_process", role, database_url,
                broker_url, probe, *options,
                cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                limit=16 * 2**20)  # the last record counts handler runs for every key
        child = cls(process, log)
        child.reader = asyncio.create_task(child._read())
        ready = asyncio.create_task(child.ready.wait())
        await asyncio.wait({ready, child.reader}, timeout=60,
                           return_when=asyncio.FIRST_COMPLETED)
        if not child.ready.is_set():
            ready.cancel()
            await child.stop()
            raise AssertionError(f"{role} process did not get ready:\n{child.log_tail()}")
        return child

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode().strip()
            if line == "READY":
                self.ready.set()
            elif line:
                self.records.append(json.loads(line))

    async def wait_exit(self, timeout: float) -> int:
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.stop()
            raise AssertionError(f"process still alive after {timeout}s:\n{self.log_tail()}"
                                 ) from None
        if self.reader is not None:
            await self.reader  # every record written before the kill is read
        return code

    async def stop(self) -> None:
        """End our own child: SIGTERM (graceful), SIGKILL if it does not go within 10 s."""
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.reader is not None:
            with contextlib.suppress(Exception):
                await self.reader

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def about(self, key: str) -> list[dict[str, Any]]:
        return [r for r in self.records if key in (r.get("key"), r.get("confirmed"))]
