"""A probe consumer or relay in a process of its own, so a fault test can SIGKILL it for real.

    python -m tests.faults.probe_process consumer DATABASE_URL BROKER_URL PROBE [--kill-key K
        --kill-at after-commit|before-commit] [--fail-prefix P --delivery-limit N] [--hold]
    python -m tests.faults.probe_process relay DATABASE_URL BROKER_URL PROBE [--kill-key K]

It attaches to a probe whose schema the test already created. It kills itself with SIGKILL (no
`finally`, no close, no ack, no rollback: the broker and PostgreSQL only see the socket go away):
- consumer, after-commit: once the transaction holding the event committed (the consumer applies
  deliveries in batches, one transaction each) and before the transport acks them;
- consumer, before-commit: inside the handler, after its effect row was written, before commit;
- relay: once the broker confirmed the batch holding the event and before the rows were marked
  sent (the claim transaction is still open).

With `--fail-prefix` the consumer's handler fails for every key with that prefix (poison), and
the process measures nothing itself: fault scenario 8 runs its consumers here so that their rates
are their own, not shared with the test process's event loop and heap. `--hold` makes it wait
for SIGUSR1 before subscribing, so that two of them can be started at the same moment.

Protocol on stdout, one line each, flushed: `READY` (after subscribing; with `--hold`, before),
then JSON records the test reads back; on SIGTERM a last record with how often the handler ran
per key.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from shared.messaging.relay import OutboxRelay
from shared.messaging.transport import (
    Delivery,
    Outcome,
    OutgoingMessage,
    Subscription,
    Transport,
    Verdict,
)
from tests.harness import Probe, start_probe


def say(record: Mapping[str, Any] | str) -> None:
    line = record if isinstance(record, str) else json.dumps(record)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def die(stage: str, key: str) -> NoReturn:
    say({"killed": stage, "key": key})
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: SIGKILL cannot be caught")


def key_of(body: bytes) -> str:
    try:
        return str(json.loads(body)["data"]["unit_id"])
    except (ValueError, KeyError, TypeError):
        return "?"


Observer = Callable[[Sequence[Delivery], Sequence[Outcome]], None]


def observed(subscription: Subscription, observe: Observer) -> Subscription:
    """The same subscription, with `observe` called once its deliveries were processed (their
    transaction committed or rolled back) and before the transport settles (acks) them —
    on both paths, one delivery at a time and in batches."""

    async def one(delivery: Delivery) -> Outcome:
        outcome = await subscription.callback(delivery)
        observe([delivery], [outcome])
        return outcome

    async def many(deliveries: Sequence[Delivery]) -> list[Outcome]:
        outcomes = await subscription.deliver_many(deliveries)
        observe(deliveries, outcomes)
        return outcomes

    return dataclasses.replace(subscription, callback=one, batch_callback=many)


async def run_consumer(args: argparse.Namespace) -> None:
    def fail(key: str, attempt: int) -> bool:
        if key == args.kill_key and args.kill_at == "before-commit":
            die("before-commit", key)
        return bool(args.fail_prefix) and key.startswith(args.fail_prefix)

    probe = await start_probe(args.database_url, "rabbitmq", args.broker_url, name=args.probe,
                              create_schema=False, subscribe=False, run_relay=False, fail=fail,
                              prefetch=args.prefetch, delivery_limit=args.delivery_limit)

    def after_processing(deliveries: Sequence[Delivery], outcomes: Sequence[Outcome]) -> None:
        victim_committed = False
        for delivery, outcome in zip(deliveries, outcomes, strict=True):
            key = key_of(delivery.body)
            say({"key": key, "attempt": delivery.attempt, "verdict": outcome.verdict.value,
                 "batch": len(deliveries)})
            victim_committed |= key == args.kill_key and outcome.verdict is Verdict.ACK
        if victim_committed and args.kill_at == "after-commit":
            die("after-commit", args.kill_key)  # the transport would ack right after we return

    if args.hold:
        await held_until_go()
    await probe.transport.subscribe(observed(probe.consumer.subscription(), after_processing))
    await serve(probe, announce=not args.hold)


async def held_until_go() -> None:
    """`READY` before subscribing, then wait for SIGUSR1: fault scenario 8 starts two consumers
    at the same moment, after both processes finished starting (imports take ~1 s)."""
    go = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, go.set)
    say("READY")
    await go.wait()
    loop.remove_signal_handler(signal.SIGUSR1)


@dataclasses.dataclass
class KillAfterConfirm:
    """Publishes through the real transport, then dies once `kill_key` was confirmed."""

    inner: Transport
    kill_key: str | None

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    def is_ready(self) -> bool:
        return self.inner.is_ready()

    async def subscribe(self, subscription: Subscription) -> None:
        await self.inner.subscribe(subscription)

    async def publish(
        self, routing_key: str, body: bytes, *, message_id: str, headers: Mapping[str, Any]
    ) -> None:
        await self.inner.publish(routing_key, body, message_id=message_id, headers=headers)
        self._confirmed([key_of(body)])

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> list[str | None]:
        errors = await self.inner.publish_many(messages)
        self._confirmed([key_of(m.body) for m, error in zip(messages, errors, strict=True)
                         if error is None])
        return errors

    def _confirmed(self, keys: list[str]) -> None:
        for key in keys:
            say({"confirmed": key})
        if self.kill_key in keys:
            die("after-confirm", self.kill_key)  # the claim transaction is open, rows unmarked


async def run_relay(args: argparse.Namespace) -> None:
    probe = await start_probe(args.database_url, "rabbitmq", args.broker_url, name=args.probe,
                              create_schema=False, subscribe=False, run_relay=False)
    relay = OutboxRelay(schema=probe.name, engine=probe.relay_engine(),
                        transport=KillAfterConfirm(probe.transport, args.kill_key),
                        tracer=probe.relay.tracer, batch_size=args.batch_size, poll_seconds=0.2)
    probe.tasks.append(asyncio.create_task(relay.run()))
    await serve(probe)


async def serve(probe: Probe, *, announce: bool = True) -> None:
    if announce:
        say("READY")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
        say({"handler_runs": probe.attempts})
    finally:
        await probe.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["consumer", "relay"])
    parser.add_argument("database_url")
    parser.add_argument("broker_url")
    parser.add_argument("probe")
    parser.add_argument("--kill-key")
    parser.add_argument("--kill-at", choices=["after-commit", "before-commit"],
                        default="after-commit")
    parser.add_argument("--prefetch", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--fail-prefix")
    parser.add_argument("--delivery-limit", type=int, default=3)
    parser.add_argument("--hold", action="store_true",
                        help="say READY before subscribing; subscribe on SIGUSR1")
    parser.add_argument("--cpu", type=int, help="run on this CPU only")
    args = parser.parse_args()
    if args.cpu is not None:  # before any thread starts: threads inherit it
        os.sched_setaffinity(0, {args.cpu})
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(run_consumer(args) if args.role == "consumer" else run_relay(args))


if __name__ == "__main__":
    main()
