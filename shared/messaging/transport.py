"""The transport interface and the in-process transport used by the embedded default.

Both transports run the same outbox, relay, inbox and consumer code. The in-process transport
delivers synchronously inside `publish`: a publish is "confirmed" only when every bound consumer
has committed (or dead-lettered) the event, so nothing sits in memory that a crash could lose —
an unconfirmed row simply stays in the outbox and is published again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

log = logging.getLogger(__name__)


class PublishFailed(Exception):
    """The broker did not confirm the message (nack, return, timeout or disconnect)."""


class Verdict(Enum):
    ACK = "ack"
    RETRY = "retry"
    DEAD_LETTER = "dead-letter"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str | None = None


ACKED = Outcome(Verdict.ACK)


@dataclass(frozen=True)
class Delivery:
    body: bytes
    routing_key: str
    message_id: str | None
    headers: Mapping[str, Any]
    attempt: int  # 1 on first delivery


DeliveryCallback = Callable[[Delivery], Awaitable[Outcome]]
BatchCallback = Callable[[Sequence[Delivery]], Awaitable[list[Outcome]]]


@dataclass(frozen=True)
class OutgoingMessage:
    routing_key: str
    body: bytes
    message_id: str
    headers: Mapping[str, Any]


@dataclass(frozen=True)
class Subscription:
    queue: str
    routing_keys: Sequence[str]
    callback: DeliveryCallback
    prefetch: int = 64
    delivery_limit: int = 5
    # Optional: transports that can hand over several deliveries at once use it instead.
    batch_callback: BatchCallback | None = None
    max_batch: int = 100

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        if self.batch_callback is not None and len(deliveries) > 1:
            return await self.batch_callback(deliveries)
        return [await self.callback(d) for d in deliveries]


class Transport(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def is_ready(self) -> bool: ...

    async def publish(
        self, routing_key: str, body: bytes, *, message_id: str, headers: Mapping[str, Any]
    ) -> None: ...

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> list[str | None]:
        """Publish a batch; per message None when confirmed, else why not."""
        ...

    async def subscribe(self, subscription: Subscription) -> None: ...


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic semantics: `*` is exactly one word, `#` zero or more."""
    return _topic_regex(pattern).fullmatch(routing_key) is not None


@functools.cache
def _topic_regex(pattern: str) -> re.Pattern[str]:
    # Cached: the in-process transport asks for every message and every binding, and building
    # the expression was most of that (a subscription's patterns are few and fixed).
    parts = []
    for word in pattern.split("."):
        parts.append({"*": r"[^.]+", "#": r".*"}.get(word, re.escape(word)))
    regex = r"\.".join(parts).replace(r".*\.", r"(?:.*\.)?").replace(r"\..*", r"(?:\..*)?")
    return re.compile(regex)


@dataclass
class DeadLetter:
    queue: str
    routing_key: str
    message_id: str | None
    body: bytes
    reason: str


@dataclass
class InProcessTransport:
    """Delivers each publish to every matching subscription before confirming it."""

    subscriptions: list[Subscription] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # Like RabbitMQ's event-log stream, it takes every routing key, so an event no service
    # consumes is still "routed"; without it such a publish fails like a returned mandatory one.
    event_log: deque[tuple[str, bytes]] | None = field(
        default_factory=lambda: deque(maxlen=10_000))
    _attempts: dict[tuple[str, str], int] = field(default_factory=dict)
    _started: bool = False

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        self._started = False

    def is_ready(self) -> bool:
        return self._started

    async def subscribe(self, subscription: Subscription) -> None:
        self.subscriptions.append(subscription)

    async def publish(
        self, routing_key: str, body: bytes, *, message_id: str, headers: Mapping[str, Any]
    ) -> None:
        if not self._started:
            raise PublishFailed("in-process transport is not running")
        targets = [
            s for s in self.subscriptions
            if any(topic_matches(p, routing_key) for p in s.routing_keys)
        ]
        if self.event_log is not None:
            self.event_log.append((routing_key, body))
        elif not targets:
            # Same contract as a mandatory publish to RabbitMQ: unroutable is not "sent".
            raise PublishFailed(f"unroutable: no queue is bound to {routing_key}")
        results = await asyncio.gather(
            *(self._deliver(s, routing_key, body, message_id, headers) for s in targets)
        )
        if not all(results):
            raise PublishFailed("a consumer asked for redelivery")

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> list[str | None]:
        """Hand each subscription its share of the batch in one call (one transaction)."""
        if not self._started:
            return ["in-process transport is not running"] * len(messages)
        errors: list[str | None] = [None] * len(messages)
        routed = [False] * len(messages)
        for sub in self.subscriptions:
            mine = [i for i, m in enumerate(messages)
                    if any(topic_matches(p, m.routing_key) for p in sub.routing_keys)]
            if not mine:
                continue
            deliveries = []
            for i in mine:
                routed[i] = True
                m = messages[i]
                attempt = self._attempts.get((sub.queue, m.message_id), 0) + 1
                deliveries.append(Delivery(m.body, m.routing_key, m.message_id, m.headers,
                                           attempt))
            outcomes = await sub.deliver_many(deliveries)
            for i, delivery, outcome in zip(mine, deliveries, outcomes, strict=True):
                if not self._settle(sub, delivery, outcome):
                    errors[i] = "a consumer asked for redelivery"
        for i, m in enumerate(messages):
            if self.event_log is not None:
                self.event_log.append((m.routing_key, m.body))
            elif not routed[i]:
                errors[i] = f"unroutable: no queue is bound to {m.routing_key}"
        return errors

    def _settle(self, sub: Subscription, delivery: Delivery, outcome: Outcome) -> bool:
        """Record the outcome; False when the message must be published again."""
        key = (sub.queue, delivery.message_id or "")
        if outcome.verdict is Verdict.RETRY and delivery.attempt < sub.delivery_limit:
            self._attempts[key] = delivery.attempt
            return False
        self._attempts.pop(key, None)
        if outcome.verdict is not Verdict.ACK:
            reason = outcome.reason or f"delivery limit {sub.delivery_limit} reached"
            log.error("dead-lettered %s on %s: %s", delivery.message_id, sub.queue, reason)
            self.dead_letters.append(DeadLetter(sub.queue, delivery.routing_key,
                                                delivery.message_id, delivery.body, reason))
        return True

    async def _deliver(
        self, sub: Subscription, routing_key: str, body: bytes, message_id: str,
        headers: Mapping[str, Any],
    ) -> bool:
        attempt = self._attempts.get((sub.queue, message_id), 0) + 1
        delivery = Delivery(body, routing_key, message_id, headers, attempt)
        return self._settle(sub, delivery, await sub.callback(delivery))
