"""Which deliveries a batch may ack with one `multiple` ack (shared/messaging/acks.py): never
one still held elsewhere — a redelivery being retried, a dead-letter publish in flight, a message
waiting for the next batch — since a `multiple` ack settles it too, and a crash would then lose
it."""

from __future__ import annotations

import gc

from shared.messaging.acks import UnsettledDeliveries, plan_acks


def test_a_batch_with_nothing_else_outstanding_is_acked_in_one_frame() -> None:
    assert plan_acks({3, 4, 5, 6}, unsettled={3, 4, 5, 6}) == (6, [])


def test_deliveries_waiting_for_the_next_batch_are_above_the_batch_and_stay_unsettled() -> None:
    assert plan_acks({3, 4, 5}, unsettled={3, 4, 5, 6, 7}) == (5, [])


def test_a_delivery_held_below_the_batch_stops_the_multiple_ack_before_it() -> None:
    # 4 is a redelivery the retry worker is applying: only 2 and 3 go together, 5 and 6 alone
    assert plan_acks({2, 3, 5, 6}, unsettled={2, 3, 4, 5, 6}) == (3, [5, 6])


def test_a_held_delivery_below_every_acked_one_leaves_them_all_one_by_one() -> None:
    assert plan_acks({8, 9}, unsettled={1, 8, 9}) == (None, [8, 9])


def test_a_single_delivery_is_acked_alone() -> None:
    assert plan_acks({7}, unsettled={7, 9}) == (None, [7])
    assert plan_acks(set(), unsettled={7}) == (None, [])


def test_unsettled_deliveries_are_kept_per_channel_and_forgotten_with_it() -> None:
    class Channel:
        pass

    first, second = Channel(), Channel()
    deliveries = UnsettledDeliveries()
    for tag in (1, 2, 3):
        deliveries.received(first, tag)
    deliveries.received(second, 1)
    deliveries.settled(first, [1, 2])
    assert deliveries.of(first) == {3}
    assert deliveries.of(second) == {1}
    del second
    gc.collect()
    assert len(deliveries._tags) == 1
