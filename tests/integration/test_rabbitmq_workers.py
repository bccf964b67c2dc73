"""RabbitTransport's consumer workers, against real RabbitMQ.

A consumer process applies first deliveries in batches on one batch worker and redeliveries (an
earlier attempt failed) on a worker of their own (shared/messaging/rabbitmq.py: subscribe). What
that must guarantee: however long a poison message's retry takes, the healthy stream behind it
keeps flowing (fault scenario 8 measures the throughput; this pins the mechanism).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from shared.messaging.rabbitmq import RabbitTransport
from shared.messaging.transport import ACKED, Delivery, Outcome, Subscription, Verdict

ROUTING_KEY = "probe.thing.v1"


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

    async def apply_many(deliveries: Sequence[Delivery]) -> list[Outcome]:
        return [await apply(delivery) for delivery in deliveries]

    async def publish(key: str) -> None:
        await transport.publish(ROUTING_KEY, key.encode(), message_id=f"{name}-{key}",
                                headers={})

    await transport.start()
    try:
        await transport.subscribe(Subscription(
            queue=f"{name}.inbox", routing_keys=[ROUTING_KEY], callback=apply,
            batch_callback=apply_many, delivery_limit=5))
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
