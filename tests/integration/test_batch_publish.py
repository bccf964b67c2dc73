"""RabbitTransport.publish_many writes a batch in one go (shared/messaging/batch_publish.py), beside
aiormq's own bookkeeping of delivery tags: against real RabbitMQ, each message must still be
confirmed, returned or refused on its own, and single publishes on the same channel must not be
confused with the batch's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from shared.events.base import CLOUDEVENTS_CONTENT_TYPE
from shared.messaging.rabbitmq import RabbitTransport
from shared.messaging.transport import OutgoingMessage

BOUND = "probe.bound.v1"
UNBOUND = "probe.unbound.v1"


TransportAndQueue = tuple[RabbitTransport, aio_pika.abc.AbstractQueue]


@pytest.fixture
async def transport_and_queue(broker_url: str) -> AsyncIterator[TransportAndQueue]:
    """A started transport and a queue bound to its exchange for BOUND only."""
    name = f"batch_{uuid.uuid4().hex[:8]}"
    transport = RabbitTransport(broker_url, exchange=f"{name}.events",
                                dead_letter_exchange=f"{name}.dead-letter", connection_name=name)
    await transport.start()
    connection = await aio_pika.connect(broker_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{name}.inbox", durable=True,
                                            arguments={"x-queue-type": "quorum"})
        await queue.bind(f"{name}.events", routing_key=BOUND)
        yield transport, queue
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
        await transport.close()


def message(routing_key: str, n: int) -> OutgoingMessage:
    return OutgoingMessage(routing_key, f"body-{n}".encode(), f"id-{n}-{uuid.uuid4().hex[:6]}",
                           {"traceparent": f"00-{n:032x}-{n:016x}-01"})


async def drain(queue: aio_pika.abc.AbstractQueue, count: int
                ) -> list[aio_pika.abc.AbstractIncomingMessage]:
    received: list[aio_pika.abc.AbstractIncomingMessage] = []
    async with asyncio.timeout(30):
        while len(received) < count:
            incoming = await queue.get(fail=False)
            if incoming is None:
                await asyncio.sleep(0.05)
                continue
            await incoming.ack()
            received.append(incoming)
    return received


async def test_a_batch_arrives_whole_in_order_with_its_properties(
        transport_and_queue: TransportAndQueue) -> None:
    transport, queue = transport_and_queue
    batch = [message(BOUND, n) for n in range(50)]

    assert await transport.publish_many(batch) == [None] * 50

    received = await drain(queue, 50)
    assert [m.body for m in received] == [m.body for m in batch]
    assert [m.message_id for m in received] == [m.message_id for m in batch]
    assert [(m.headers or {})["traceparent"] for m in received] == [
        m.headers["traceparent"] for m in batch]
    assert {m.content_type for m in received} == {CLOUDEVENTS_CONTENT_TYPE}
    assert {m.delivery_mode for m in received} == {aio_pika.DeliveryMode.PERSISTENT}


async def test_only_the_unroutable_messages_of_a_batch_are_reported_returned(
        transport_and_queue: TransportAndQueue) -> None:
    """Fault scenario 9 per message: the relay keeps exactly the returned rows unsent."""
    transport, queue = transport_and_queue
    batch = [message(UNBOUND if n % 3 == 0 else BOUND, n) for n in range(12)]

    results = await transport.publish_many(batch)

    for outgoing, result in zip(batch, results, strict=True):
        if outgoing.routing_key == UNBOUND:
            assert result is not None and "returned" in result, result
        else:
            assert result is None
    received = await drain(queue, 8)
    assert [m.message_id for m in received] == [m.message_id for m in batch
                                                if m.routing_key == BOUND]


async def test_batches_and_single_publishes_on_one_channel_each_get_their_own_confirm(
        transport_and_queue: TransportAndQueue) -> None:
    """Both take delivery tags on the same channel: the dead-letter path publishes singly on it
    while the relay publishes batches. A tag taken twice or skipped would confirm the wrong
    message, or leave one waiting until its timeout."""
    transport, queue = transport_and_queue
    batches = [[message(BOUND, 100 * b + n) for n in range(20)] for b in range(5)]
    singles = [message(UNBOUND if n % 2 else BOUND, 1000 + n) for n in range(10)]

    async def single(outgoing: OutgoingMessage) -> str | None:
        try:
            await transport.publish(outgoing.routing_key, outgoing.body,
                                    message_id=outgoing.message_id, headers=outgoing.headers)
        except Exception as exc:
            return str(exc)
        return None

    results = await asyncio.gather(*(transport.publish_many(b) for b in batches),
                                   *(single(s) for s in singles))

    assert results[:5] == [[None] * 20] * 5
    for outgoing, result in zip(singles, results[5:], strict=True):
        assert (result is None) == (outgoing.routing_key == BOUND), (outgoing, result)
    received = await drain(queue, 100 + 5)
    expected = {m.message_id for b in batches for m in b} | {
        s.message_id for s in singles if s.routing_key == BOUND}
    assert {m.message_id for m in received} == expected


async def test_a_closed_channel_fails_the_whole_batch_and_the_next_one_goes_out(
        broker_url: str,
        transport_and_queue: TransportAndQueue) -> None:
    """A batch to an exchange that was deleted: the broker closes the channel (404), and every
    message of the batch is reported not published — none is taken for confirmed. Once the
    exchange is back, the reopened channel publishes again, its delivery tags counted afresh."""
    transport, queue = transport_and_queue
    exchange = f"{queue.name.removesuffix('.inbox')}.events"
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        await channel.exchange_delete(exchange)

        results = await transport.publish_many([message(BOUND, n) for n in range(5)])

        assert all(result is not None for result in results), results
        await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        await queue.bind(exchange, routing_key=BOUND)
    again = [message(BOUND, n) for n in range(5, 10)]
    async with asyncio.timeout(30):
        while True:  # until the channel is reopened
            if await transport.publish_many(again) == [None] * 5:
                break
            await asyncio.sleep(0.2)
    received = await drain(queue, 5)
    assert {m.message_id for m in received} >= {m.message_id for m in again}
