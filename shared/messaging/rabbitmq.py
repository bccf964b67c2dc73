"""RabbitMQ transport (aio-pika): confirmed persistent publishes, quorum queues, DLX.

Two robust connections: publishing and consuming are separate so that a publisher blocked by a
broker alarm never stalls the consumers. Robust connections re-declare the topology and
re-register consumers after a broker restart, without restarting the process.

A silently dead connection (no FIN, no RST: a cut cable, a dropped NAT entry) is detected by a
watchdog within two heartbeat intervals (shared/messaging/watchdog.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustExchange,
)
from aio_pika.exceptions import AMQPError, DeliveryError

from shared.events.base import CLOUDEVENTS_CONTENT_TYPE
from shared.messaging.acks import UnsettledDeliveries, plan_acks
from shared.messaging.batch_publish import publish_batch
from shared.messaging.transport import (
    Delivery,
    Outcome,
    OutgoingMessage,
    PublishFailed,
    Subscription,
    Verdict,
)
from shared.messaging.watchdog import SilenceWatchdog

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


def _not_published(routing_key: str, error: BaseException) -> str:
    """Why a publish failed, as the relay records it on the outbox row (`last_error`)."""
    if isinstance(error, DeliveryError):  # nacked, or returned unroutable (a PublishError)
        return f"broker refused or returned {routing_key}: {error}"
    if isinstance(error, asyncio.CancelledError):  # aiormq dropped a stuck connection
        return f"publish of {routing_key} not confirmed: connection dropped"
    return f"publish of {routing_key} not confirmed: {error!r}"


def _cancelled_by_caller() -> bool:
    """Whether a CancelledError means the current task is being cancelled.

    aiormq also throws CancelledError into pending publishes and acks when it drops a connection
    it found stuck. That is a connection failure: let through, it ended the relay's task for good
    (fault scenario 3, tests/faults/test_broker_faults.py) and would end a consumer worker.
    """
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


class RabbitTransport:
    def __init__(
        self, url: str, *, exchange: str, dead_letter_exchange: str, connection_name: str,
        heartbeat: int = 10, publish_timeout: float = 5.0, batch_workers: int = 1,
        event_log_queue: str | None = None, event_log_max_age: str = "30D",
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
        self._publish_channel: AbstractRobustChannel | None = None
        self._dlx: AbstractRobustExchange | None = None
        self._channels: list[AbstractRobustChannel] = []
        self._batch_workers = batch_workers
        self._event_log = (event_log_queue, event_log_max_age)
        self._workers: list[asyncio.Task[None]] = []
        self._dead_lettering: set[asyncio.Task[None]] = set()
        self._unsettled = UnsettledDeliveries()
        self._watchdog = SilenceWatchdog(connection_name, heartbeat,
                                         lambda: (self._publisher, self._consumer))

    async def start(self) -> None:
        """Connect once; raises if the broker is unreachable (the caller retries)."""
        self._publisher = await self._connect("publish")
        self._consumer = await self._connect("consume")
        channel = await self._publisher.channel(publisher_confirms=True, on_return_raises=True)
        self._publish_channel = channel
        self._exchange = await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        self._dlx = await channel.declare_exchange(
            self._dlx_name, aio_pika.ExchangeType.DIRECT, durable=True
        )
        await self._declare_event_log()
        self._watchdog.start()

    async def _connect(self, role: str) -> AbstractRobustConnection:
        return await aio_pika.connect_robust(
            self._url,
            heartbeat=self._heartbeat,
            timeout=10,
            reconnect_interval=1,
            client_properties={"connection_name": f"{self._name}-{role}"},
        )

    async def _declare_event_log(self) -> None:
        """The stream every event lands in (see docs/events.md): dashboards replay it."""
        name, max_age = self._event_log
        if not name or self._consumer is None:
            return
        channel = await self._consumer.channel()
        log_queue = await channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "stream", "x-max-age": max_age})
        exchange = await channel.declare_exchange(self._exchange_name,
                                                  aio_pika.ExchangeType.TOPIC, durable=True)
        await log_queue.bind(exchange, routing_key="#")
        await channel.close()

    async def close(self) -> None:
        if self._dead_lettering:  # let confirmed dead-letter publishes ack their originals
            await asyncio.wait(self._dead_lettering, timeout=self._publish_timeout)
        self._watchdog.stop()
        # A dead-letter publish cut short leaves its message unacked: the broker redelivers it.
        for task in (*self._workers, *self._dead_lettering):
            task.cancel()
        for connection in (self._consumer, self._publisher):
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()

    def is_ready(self) -> bool:
        return all(
            c is not None and not c.is_closed and c.connected.is_set()
            and not self._watchdog.is_silent(c)
            for c in (self._publisher, self._consumer)
        )

    async def publish(
        self, routing_key: str, body: bytes, *, message_id: str, headers: Mapping[str, Any]
    ) -> None:
        if not self.is_ready():
            raise PublishFailed("not connected to RabbitMQ")
        await self._send(OutgoingMessage(routing_key, body, message_id, headers),
                         self._publish_timeout)

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> list[str | None]:
        """Publish a batch in one write (shared/messaging/batch_publish.py) so its confirms
        pipeline; per message None or the reason it failed.

        One deadline for the whole batch: no publish waits longer than `publish_timeout`
        (fault scenario 3), including the wait for a channel while the connection reconnects.
        """
        if not messages:
            return []
        if not self.is_ready() or self._publish_channel is None:
            return ["not connected to RabbitMQ"] * len(messages)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._publish_timeout
        try:
            async with asyncio.timeout_at(deadline):
                channel = await self._publish_channel.get_underlay_channel()
                confirmations = await publish_batch(channel, self._exchange_name, messages,
                                                    CLOUDEVENTS_CONTENT_TYPE)
        except asyncio.CancelledError:
            if _cancelled_by_caller():
                raise
            return ["not published: connection dropped"] * len(messages)
        except (AMQPError, ConnectionError, TimeoutError, RuntimeError) as exc:
            return [f"not published: {exc!r}"] * len(messages)
        try:
            await asyncio.wait(confirmations, timeout=max(0.0, deadline - loop.time()))
        finally:
            for confirmation in confirmations:
                confirmation.cancel()  # a no-op once resolved; a late confirm is then ignored
        return [self._failure(message, confirmation)
                for message, confirmation in zip(messages, confirmations, strict=True)]

    def _failure(self, message: OutgoingMessage, confirmation: asyncio.Future[Any]
                 ) -> str | None:
        if confirmation.cancelled():
            return (f"publish of {message.routing_key} not confirmed within "
                    f"{self._publish_timeout} s")
        error = confirmation.exception()
        return None if error is None else _not_published(message.routing_key, error)

    async def _send(self, message: OutgoingMessage, timeout: float | None) -> None:
        if self._exchange is None:
            raise PublishFailed("not connected to RabbitMQ")
        outgoing = aio_pika.Message(
            message.body,
            content_type=CLOUDEVENTS_CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            headers=dict(message.headers),
        )
        routing_key = message.routing_key
        try:
            await self._exchange.publish(outgoing, routing_key, mandatory=True, timeout=timeout)
        except (AMQPError, ConnectionError, TimeoutError, RuntimeError) as exc:
            raise PublishFailed(_not_published(routing_key, exc)) from exc
        except asyncio.CancelledError as exc:
            if _cancelled_by_caller():
                raise
            raise PublishFailed(_not_published(routing_key, exc)) from exc

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

        # Deliveries queue up locally and are applied in batches (one transaction each) by
        # `batch_workers` workers; prefetch bounds how many are unacked at any time. One by
        # default: while its batch commits the next one gathers, so batches are larger and the
        # latency lower than with two splitting a trickle (docs/performance.md, fifth session).
        # Redeliveries (an earlier attempt failed) go to a worker of their own: a poison
        # message's retries are applied one by one and must not lengthen the batches' rounds
        # (fault scenario 8).
        pending: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        retries: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        for _ in range(self._batch_workers):
            self._workers.append(asyncio.create_task(
                self._work(subscription, pending, subscription.max_batch)))
        # One at a time: each is applied alone anyway, and a batch of them would hold every
        # retry's ack (and prefetch slot) until the last one was applied.
        self._workers.append(asyncio.create_task(self._work(subscription, retries, 1)))

        async def arrived(message: AbstractIncomingMessage) -> None:
            if message.delivery_tag is not None:
                self._unsettled.received(message.channel, message.delivery_tag)
            (retries if self._attempt(message) > 1 else pending).put_nowait(message)

        await queue.consume(arrived, no_ack=False)

    async def _work(self, subscription: Subscription,
                    pending: asyncio.Queue[AbstractIncomingMessage], max_batch: int) -> None:
        while True:
            messages = [await pending.get()]
            while len(messages) < max_batch and not pending.empty():
                messages.append(pending.get_nowait())
            try:
                await self._handle(subscription, messages)
            except asyncio.CancelledError:
                if _cancelled_by_caller():
                    raise
            except Exception:
                # The worker must outlive any one batch: a dead worker would leave its channel's
                # deliveries unacked forever. What was not settled is redelivered by the broker.
                log.exception("consumer %s: batch not settled", subscription.queue)

    async def _handle(self, subscription: Subscription,
                      messages: list[AbstractIncomingMessage]) -> None:
        deliveries = [self._delivery(message) for message in messages]
        try:
            outcomes = await subscription.deliver_many(deliveries)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("consumer %s failed outside its handlers", subscription.queue)
            outcomes = [Outcome(Verdict.RETRY, "consumer error")] * len(messages)
        acked = []
        for message, outcome in zip(messages, outcomes, strict=True):
            if outcome.verdict is Verdict.DEAD_LETTER:
                # Off the worker: the dead-letter publish waits for its confirm (a quorum-queue
                # write), and healthy batches must not wait behind it (fault scenario 8).
                # Prefetch still bounds the messages held meanwhile.
                task = asyncio.create_task(self._settle(subscription, message, outcome))
                self._dead_lettering.add(task)
                task.add_done_callback(self._dead_lettering.discard)
            elif outcome.verdict is Verdict.ACK and message.delivery_tag is not None:
                acked.append(message)
            else:
                await self._settle(subscription, message, outcome)
        await self._ack_together(acked)

    async def _ack_together(self, messages: list[AbstractIncomingMessage]) -> None:
        """Ack a batch in as few frames as its channel allows (shared/messaging/acks.py)."""
        channels: dict[Any, dict[int, AbstractIncomingMessage]] = {}
        for message in messages:
            assert message.delivery_tag is not None
            channels.setdefault(message.channel, {})[message.delivery_tag] = message
        for channel, by_tag in channels.items():
            upto, one_by_one = plan_acks(by_tag.keys(), self._unsettled.of(channel))
            try:
                if upto is not None:
                    await by_tag[upto].ack(multiple=True)
                for tag in one_by_one:
                    await by_tag[tag].ack()
            except asyncio.CancelledError:
                if _cancelled_by_caller():
                    raise
                log.warning("%d deliveries not acked: connection dropped; the broker will "
                            "redeliver them", len(by_tag))
            except Exception:
                log.exception("%d deliveries not acked; the broker will redeliver them",
                              len(by_tag))
            finally:
                self._unsettled.settled(channel, by_tag.keys())

    async def _settle(self, subscription: Subscription, message: AbstractIncomingMessage,
                      outcome: Outcome) -> None:
        try:
            await self._settle_one(subscription, message, outcome)
        finally:
            if message.delivery_tag is not None:
                self._unsettled.settled(message.channel, [message.delivery_tag])

    async def _settle_one(self, subscription: Subscription, message: AbstractIncomingMessage,
                          outcome: Outcome) -> None:
        try:
            if outcome.verdict is Verdict.ACK:
                await message.ack()
            elif outcome.verdict is Verdict.DEAD_LETTER:
                if await self._dead_letter_safely(subscription, message, outcome):
                    await message.ack()
                else:
                    # Back to the queue, not left unacked: on a channel that stays open an
                    # unacked delivery is never redelivered. It comes again past the delivery
                    # limit and is dead-lettered then (by us, or by the queue itself).
                    await message.nack(requeue=True)
            else:
                await message.nack(requeue=True)
        except asyncio.CancelledError:
            if _cancelled_by_caller():
                raise
            log.warning("delivery %s not settled: connection dropped; the broker will "
                        "redeliver", message.message_id)
        except Exception:
            # The consumer's channel is gone: the broker redelivers what was unacked on it.
            log.exception("delivery %s not settled; the broker will redeliver",
                          message.message_id)

    async def _dead_letter_safely(self, subscription: Subscription,
                                  message: AbstractIncomingMessage, outcome: Outcome) -> bool:
        """Publish to the DLQ; False (logged) when that failed, was cut short or took longer than
        a publish may: the publish's own timeout starts only once its channel is there, and
        while the connection reconnects aio-pika waits for that without limit, the delivery
        held unacked meanwhile."""
        try:
            async with asyncio.timeout(self._publish_timeout):
                await self._dead_letter(subscription, message, outcome.reason or "rejected")
            return True
        except asyncio.CancelledError:
            if _cancelled_by_caller():
                raise
            log.warning("delivery %s not dead-lettered: connection dropped; requeued",
                        message.message_id)
        except Exception:
            log.exception("delivery %s not dead-lettered; requeued", message.message_id)
        return False

    @staticmethod
    def _attempt(message: AbstractIncomingMessage) -> int:
        # quorum queues count earlier failed deliveries in x-delivery-count
        try:
            return int(str((message.headers or {}).get("x-delivery-count") or 0)) + 1
        except ValueError:  # not set by RabbitMQ: a publisher's own header, meaningless here
            return 1

    @classmethod
    def _delivery(cls, message: AbstractIncomingMessage) -> Delivery:
        return Delivery(message.body, message.routing_key or "", message.message_id,
                        dict(message.headers or {}), cls._attempt(message))

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
