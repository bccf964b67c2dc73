"""RabbitTransport's consumer workers, against real RabbitMQ.

A consumer process applies first deliveries in batches on one batch worker and redeliveries (an
earlier attempt failed) on a worker of their own (shared/messaging/rabbitmq.py: subscribe). What
that must guarantee: however long a poison message's retry takes, the healthy stream behind it
keeps flowing (fault scenario 8 measures the throughput; this pins the mechanism).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence

from shared.messaging.rabbitmq import RabbitTransport
from shared.messaging.transport import ACKED, Delivery, Outcome, Subscription, Verdict

ROUTING_KEY = "probe.thing.v1"


def subscription_of(name: str, apply: Callable[[Delivery], Awaitable[Outcome]]) -> Subscription:
    """`name`'s inbox, its batches applied one delivery after the other."""

    async def apply_many(deliveries: Sequence[Delivery]) -> list[Outcome]:
        return [await apply(delivery) for delivery in deliveries]

    return Subscription(queue=f"{name}.inbox", routing_keys=[ROUTING_KEY], callback=apply,
                        batch_callback=apply_many, delivery_limit=5)


async def test_a_retry_in_progress_does_not_hold_up_first_deliveries(broker_url: str) -> None:
    name = f"workers_{uuid.uuid4().hex[:8]}"
    transport = RabbitTransport(broker_url, exchange=f"{name}.events",
                                dead_letter_exchange=f"{name}.dead-letter",
                                connection_name=name, batch_workers=1)
    retry_started, release = asyncio.Event(), asyncio.Event()
    all_healthy, poison_applied = asyncio.Event(), asyncio.Event()
    healthy = [f"healthy-{i:02d}" for i in range(30)]
    applied: list[str] = []
    attempts: list[tuple[str, int]] = []

    async def apply(delivery: Delivery) -> Outcome:
        key = delivery.body.decode()
        attempts.append((key, delivery.attempt))
        if key == "poison":
            if delivery.attempt == 1:
                return Outcome(Verdict.RETRY, "fails on its first attempt (injected)")
            retry_started.set()
            await release.wait()  # a slow retry: it holds whichever worker runs it
            poison_applied.set()
        applied.append(key)
        if set(healthy) <= set(applied):
            all_healthy.set()
        return ACKED

    async def publish(key: str) -> None:
        await transport.publish(ROUTING_KEY, key.encode(), message_id=f"{name}-{key}",
                                headers={})

    await transport.start()
    try:
        await transport.subscribe(subscription_of(name, apply))
        await publish("poison")
        await asyncio.wait_for(retry_started.wait(), 30)
        for key in healthy:
            await publish(key)
        # With the retry on the only batch worker, none of these would be applied before release.
        await asyncio.wait_for(all_healthy.wait(), 30)  # while the retry is still blocked
        release.set()
        await asyncio.wait_for(poison_applied.wait(), 30)
        assert [a for k, a in attempts if k == "poison"] == [1, 2]
        assert all(attempt == 1 for key, attempt in attempts if key != "poison")
    finally:
        release.set()
        await transport.close()


async def test_batch_acks_settle_every_applied_delivery_and_never_one_still_held(
        broker_url: str) -> None:
    """A batch is acked with as few frames as possible (shared/messaging/acks.py), but an AMQP
    `multiple` ack settles every outstanding delivery up to its tag. A redelivery still being
    applied by the retry worker when the batches behind it are acked must stay unsettled: the
    consumer dies here before it finishes, and the broker must give it to the next consumer —
    and nothing else, for everything else was applied and acked."""
    name = f"workers_{uuid.uuid4().hex[:8]}"
    first = RabbitTransport(broker_url, exchange=f"{name}.events",
                            dead_letter_exchange=f"{name}.dead-letter", connection_name=name)
    retry_started, never = asyncio.Event(), asyncio.Event()
    healthy = [f"healthy-{i:02d}" for i in range(40)]
    applied: list[str] = []
    all_healthy = asyncio.Event()

    async def apply(delivery: Delivery) -> Outcome:
        key = delivery.body.decode()
        if key == "held":
            if delivery.attempt == 1:
                return Outcome(Verdict.RETRY, "fails on its first attempt (injected)")
            retry_started.set()
            await never.wait()  # still being applied when this consumer dies
        applied.append(key)
        if set(healthy) <= set(applied):
            all_healthy.set()
        return ACKED

    await first.start()
    try:
        await first.subscribe(subscription_of(name, apply))
        await first.publish(ROUTING_KEY, b"held", message_id=f"{name}-held", headers={})
        await asyncio.wait_for(retry_started.wait(), 30)
        await asyncio.gather(*(first.publish(ROUTING_KEY, key.encode(), message_id=key, headers={})
                               for key in healthy))
        await asyncio.wait_for(all_healthy.wait(), 30)
        await asyncio.sleep(0.5)  # the last batch's acks reach the broker
    finally:
        await first.close()  # dies with "held" unsettled

    second = RabbitTransport(broker_url, exchange=f"{name}.events",
                             dead_letter_exchange=f"{name}.dead-letter", connection_name=name)
    redelivered: list[tuple[str, int]] = []
    first_redelivery = asyncio.Event()

    async def record(delivery: Delivery) -> Outcome:
        redelivered.append((delivery.body.decode(), delivery.attempt))
        first_redelivery.set()
        return ACKED

    await second.start()
    try:
        await second.subscribe(subscription_of(name, record))
        await asyncio.wait_for(first_redelivery.wait(), 30)
        await asyncio.sleep(1.0)  # anything else left unacked would arrive meanwhile
        assert redelivered == [("held", 3)]
    finally:
        await second.close()
