"""Acknowledging a batch of deliveries in as few frames as possible.

An ack per delivery is a frame the consumer writes (a system call each, ≈ 20–50 µs of CPU here)
and a command the quorum queue appends to its log and applies. AMQP's `multiple` ack settles every
outstanding delivery of a channel up to a tag in one frame — including deliveries the consumer
still holds (a redelivery being applied by the retry worker, a dead-letter publish in flight, a
message waiting for the next batch). So a batch is acked together only up to the lowest delivery
of its channel that is still unsettled and not in the batch; what lies above that is acked one
by one.

Deliveries reach the consumer in the order of their tags (aiormq and aio-pika hand each one on
through the same number of tasks, which run in order), so a delivery whose tag is below an acked
one has always been seen by then.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection
from typing import Any


def plan_acks(acking: Collection[int], unsettled: Collection[int]
              ) -> tuple[int | None, list[int]]:
    """The tag to ack with `multiple` (None: none) and the tags to ack one by one.

    `acking`: the tags to ack now; `unsettled`: every tag of the channel delivered and not yet
    settled, `acking` included."""
    acking_set = set(acking)
    bound = min((tag for tag in unsettled if tag not in acking_set), default=None)
    below = [tag for tag in acking_set if bound is None or tag < bound]
    above = sorted(tag for tag in acking_set if bound is not None and tag > bound)
    if len(below) < 2:  # one tag alone gains nothing from `multiple`
        return None, sorted(below) + above
    return max(below), above


class UnsettledDeliveries:
    """The delivery tags received and not yet settled, per channel (weakly: a channel that closed
    takes its deliveries with it — the broker redelivers them on another)."""

    def __init__(self) -> None:
        self._tags: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()

    def received(self, channel: Any, tag: int) -> None:
        self._tags.setdefault(channel, set()).add(tag)

    def settled(self, channel: Any, tags: Collection[int]) -> None:
        self._tags.get(channel, set()).difference_update(tags)

    def of(self, channel: Any) -> set[int]:
        return self._tags.get(channel, set())
