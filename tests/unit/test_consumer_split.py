"""How the consumer splits a backlog batch (shared/messaging/consumer.py: split_backlog)."""

from __future__ import annotations

from shared.events.base import encode, wrap
from shared.messaging.consumer import BACKLOG_FROM, _Parsed, split_backlog
from shared.messaging.transport import Delivery
from tests.harness import unit_event


def parsed(count: int, subjects: list[str | None] | None = None) -> list[_Parsed]:
    items = []
    for index in range(count):
        event = unit_event(f"k{index}")
        envelope = wrap(event, subject=subjects[index] if subjects else None)
        delivery = Delivery(encode(envelope), envelope.routing_key, envelope.id, {}, 1)
        items.append(_Parsed(index, delivery, envelope, event, handler=None))  # type: ignore[arg-type]
    return items


def test_a_steady_state_batch_stays_one_transaction() -> None:
    items = parsed(BACKLOG_FROM - 1)
    assert split_backlog(items) == [items]


def test_a_backlog_is_split_in_two_about_equal_parts_keeping_every_delivery_once() -> None:
    items = parsed(51)
    parts = split_backlog(items)
    assert len(parts) == 2 and sorted(len(p) for p in parts) == [25, 26]
    assert sorted(i.index for p in parts for i in p) == list(range(51))
    assert all([i.index for i in p] == sorted(i.index for i in p) for p in parts)


def test_deliveries_about_one_subject_stay_in_one_part_in_order() -> None:
    subjects: list[str | None] = [f"device-{i % 5}" for i in range(40)]
    items = parsed(40, subjects)
    parts = split_backlog(items)
    assert len(parts) == 2
    for subject in set(subjects):
        holding = [p for p in parts if any(i.envelope.subject == subject for i in p)]
        assert len(holding) == 1
        order = [i.index for i in holding[0] if i.envelope.subject == subject]
        assert order == sorted(order)


def test_one_subject_for_the_whole_backlog_is_one_part() -> None:
    items = parsed(30, ["order-1"] * 30)
    assert split_backlog(items) == [items]
