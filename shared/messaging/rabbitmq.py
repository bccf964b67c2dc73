"""RabbitMQ transport (aio-pika): confirmed persistent publishes, quorum queues, DLX.

Two robust connections: publishing and consuming are separate so that a publisher blocked by a
broker alarm never stalls the consumers. Robust connections re-declare the topology and
re-register consumers after a broker restart, without restarting the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustExchange,
)
from aio_pika.exceptions import AMQPError, DeliveryError, PublishError

from shared.events.base import CLOUDEVENTS_CONTENT_TYPE
from shared.messaging.transport import Delivery, PublishFailed, Subscription, Verdict

log = logging.getLogger(__name__)
REASON_HEADER = "x-km-dead-letter-reason"


def inbox_queue_arguments(service_queue: str, dlx: str, delivery_limit: int) -> dict[str, Any]:
    """Must equal deploy/rabbitmq/definitions.json, else the declare fails (PRECONDITION_FAILED)."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": dlx,
        "x-dead-letter-routing-key": dead_letter_queue_name(service_queue),
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def dead_letter_queue_name(queue: str) -> str:
    return queue.removesuffix(".inbox") + ".dlq"


class RabbitTransport:
    def __init__(
        self, url: str, *, exchange: str, dead_letter_exchange: str, connection_name: str,
        heartbeat: int = 10, publish_timeout: float = 5.0,
    ) -> None:
        self._url = url
        self._exchange_name = exchange
        self._dlx_name = dead_letter_exchange
        self._name = connection_name
        self._heartbeat = heartbeat
        self._publish_timeout = publish_timeout
        self._publisher: AbstractRobustConnection | None = None
        self._consumer: AbstractRobustConnection | None = None
        self._exchange: AbstractRobustExchange | None = None
        self._dlx: AbstractRobustExchange | None = None
        self._channels: list[AbstractRobustChannel] = []

    async def start(self) -> None:
        """Connect once; raises if the broker is unreachable (the caller retries)."""
        self._publisher = await self._connect("publish")
        self._consumer = await self._connect("consume")
        channel = await self._publisher.channel(publisher_confirms=True, on_return_raises=True)
        self._exchange = await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        self._dlx = await channel.declare_exchange(
            self._dlx_name, aio_pika.ExchangeType.DIRECT, durable=True
        )

    async def _connect(self, role: str) -> AbstractRobustConnection:
        return await aio_pika.connect_robust(
            self._url,
            heartbeat=self._heartbeat,
            timeout=10,
            reconnect_interval=1,
            client_properties={"connection_name": f"{self._name}-{role}"},
        )

    async def close(self) -> None:
        for connection in (self._consumer, self._publisher):
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()

    def is_ready(self) -> bool:
        return all(
            c is not None and not c.is_closed and c.connected.is_set()
            for c in (self._publisher, self._consumer)
        )

    async def publish(
        self, routing_key: str, body: bytes, *, message_id: str, headers: Mapping[str, Any]
    ) -> None:
        if self._exchange is None or not self.is_ready():
            raise PublishFailed("not connected to RabbitMQ")
        message = aio_pika.Message(
            body,
            content_type=CLOUDEVENTS_CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            headers=dict(headers),
        )
        try:
            await self._exchange.publish(
                message, routing_key, mandatory=True, timeout=self._publish_timeout
            )
        except (DeliveryError, PublishError) as exc:
            raise PublishFailed(f"broker refused or returned {routing_key}: {exc}") from exc
        except (AMQPError, ConnectionError, TimeoutError, RuntimeError) as exc:
            raise PublishFailed(f"publish of {routing_key} not confirmed: {exc!r}") from exc

    async def subscribe(self, subscription: Subscription) -> None:
        assert self._consumer is not None, "start() first"
        channel = await self._consumer.channel()
        await channel.set_qos(prefetch_count=subscription.prefetch)
        exchange = await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        dlx = await channel.declare_exchange(self._dlx_name, aio_pika.ExchangeType.DIRECT,
                                             durable=True)
        dlq_name = dead_letter_queue_name(subscription.queue)
        dlq = await channel.declare_queue(
            dlq_name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dlq.bind(dlx, routing_key=dlq_name)
        queue = await channel.declare_queue(
            subscription.queue, durable=True,
            arguments=inbox_queue_arguments(subscription.queue, self._dlx_name,
                                            subscription.delivery_limit),
        )
        for key in subscription.routing_keys:
            await queue.bind(exchange, routing_key=key)
        self._channels.append(channel)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await self._handle(subscription, message)

        await queue.consume(on_message, no_ack=False)

    async def _handle(self, subscription: Subscription, message: AbstractIncomingMessage) -> None:
        headers = dict(message.headers or {})
        # quorum queues count earlier failed deliveries in x-delivery-count
        attempt = int(str(headers.get("x-delivery-count") or 0)) + 1
        delivery = Delivery(message.body, message.routing_key or "", message.message_id,
                            headers, attempt)
        try:
            outcome = await subscription.callback(delivery)
            if outcome.verdict is Verdict.ACK:
                await message.ack()
            elif outcome.verdict is Verdict.DEAD_LETTER:
                await self._dead_letter(subscription, message, outcome.reason or "rejected")
                await message.ack()
            else:
                await message.nack(requeue=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Lost channel or failed dead-letter publish: the message stays unacked and comes back.
            log.exception("delivery %s not settled; the broker will redeliver", message.message_id)

    async def _dead_letter(
        self, subscription: Subscription, message: AbstractIncomingMessage, reason: str
    ) -> None:
        """Publish to the DLQ *with the reason*, confirmed, before acking the original."""
        if self._dlx is None:
            raise PublishFailed("no dead-letter exchange")
        headers = dict(message.headers or {})
        headers.update({REASON_HEADER: reason[:1000], "x-km-original-routing-key":
                        message.routing_key or "", "x-km-queue": subscription.queue})
        await self._dlx.publish(
            aio_pika.Message(
                message.body, headers=headers, message_id=message.message_id,
                content_type=message.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=dead_letter_queue_name(subscription.queue),
            mandatory=True,
            timeout=self._publish_timeout,
        )
        log.error("dead-lettered %s from %s: %s", message.message_id, subscription.queue, reason)
