"""A relay batch's publishes written to the broker in one go, each confirmed on its own.

aio-pika publishes one message at a time: for each a Message object, a task, the channel's lock,
a timer, its frames marshalled and queued on their own, and a socket write of their own — on a
VM where a system call is dear, the publish side was the largest share of the backbone's CPU per
event at a trickle (docs/performance.md, thirteenth session). Here a batch takes the channel's
lock once, its frames are marshalled together and leave in one write, and each message still
gets its own delivery tag and confirmation future, registered exactly as aiormq's
`Channel.basic_publish` registers them, so its confirm, nack, return (mandatory publish, no
route) and channel close resolve that future as they would resolve aiormq's own.

It uses aiormq's channel state (`lock`, `delivery_tag`, `confirmations`,
`message_id_delivery_tag`, `write_queue`): aiormq is pinned to the minor version this was written
against (pyproject.toml), and the fault scenarios and tests/integration/test_batch_publish.py
exercise every way a publish ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import aiormq
import aiormq.abc
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.header import ContentHeader

from shared.messaging.transport import OutgoingMessage

PERSISTENT = 2


def _forget_message_id(channel: aiormq.Channel, message_id: str, tag: int
                       ) -> Callable[[asyncio.Future[Any]], None]:
    def forget(_: asyncio.Future[Any]) -> None:
        if channel.message_id_delivery_tag.get(message_id) == tag:
            channel.message_id_delivery_tag.pop(message_id)
    return forget


async def publish_batch(channel: aiormq.abc.AbstractChannel, exchange: str,
                        messages: Sequence[OutgoingMessage], content_type: str
                        ) -> list[asyncio.Future[Any]]:
    """Write every message (persistent, mandatory) to `channel`, which must have publisher
    confirms on; returns one future per message, resolved with the broker's `Basic.Ack` or
    failed with aiormq's `DeliveryError` (nack), `PublishError` (returned: no queue bound) or
    the channel's close reason. The caller bounds the wait for them."""
    if not isinstance(channel, aiormq.Channel) or not channel.publisher_confirms:
        raise RuntimeError("publish_batch needs an aiormq channel with publisher confirms")
    frames: list[Any] = []
    confirmations: list[asyncio.Future[Any]] = []
    drained: asyncio.Future[Any] | None = None
    async with channel.lock:  # tags must be taken in the order the frames are written
        first = channel.delivery_tag
        try:
            for message in messages:
                channel.delivery_tag += 1
                tag = channel.delivery_tag
                confirmation = channel.create_future()
                channel.confirmations[tag] = confirmation
                channel.message_id_delivery_tag[message.message_id] = tag
                confirmation.add_done_callback(
                    _forget_message_id(channel, message.message_id, tag))
                confirmations.append(confirmation)
                frames.append(spec.Basic.Publish(exchange=exchange,
                                                 routing_key=message.routing_key,
                                                 mandatory=True))
                frames.append(ContentHeader(
                    properties=spec.Basic.Properties(
                        content_type=content_type, delivery_mode=PERSISTENT,
                        message_id=message.message_id, headers=dict(message.headers)),
                    body_size=len(message.body)))
                frames.extend(channel._split_body(message.body))
            # As aiormq's own publish asks: the writer drains the socket after this payload, so
            # a broker that stops reading (an alarm) holds the writer, then the queue, back.
            drained = channel.create_future()
            payload = ChannelFrame.marshall(frames=frames, channel_number=channel.number,
                                            drain_future=drained)
            await channel.write_queue.put(payload)  # bounded: waits while the writer is behind
        except BaseException:
            # Not queued, so the broker never sees it: give the tags back while the lock is
            # still held.
            for tag in range(first + 1, channel.delivery_tag + 1):
                channel.confirmations.pop(tag, None)
            channel.delivery_tag = first
            for future in (*confirmations, drained):
                if future is not None:
                    future.cancel()  # else they would wait in the channel's store until it closes
            raise
    return confirmations
