"""Backbone rules that need no database or broker."""

from __future__ import annotations

import json
import logging

import asyncpg
import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import exc as sa_exc

from shared.db import is_unstorable_value
from shared.messaging.consumer import is_transient
from shared.messaging.transport import (
    ACKED,
    Delivery,
    InProcessTransport,
    Outcome,
    PublishFailed,
    Subscription,
    Verdict,
    topic_matches,
)
from shared.telemetry import JsonLogFormatter


@pytest.mark.parametrize(("pattern", "key", "matches"), [
    ("lifecycle.unit-registered.v1", "lifecycle.unit-registered.v1", True),
    ("lifecycle.*.v1", "lifecycle.unit-registered.v1", True),
    ("lifecycle.#", "lifecycle.unit-registered.v1", True),
    ("#", "orders.order-approved.v1", True),
    ("#.v1", "orders.order-approved.v1", True),
    ("lifecycle.*", "lifecycle.unit-registered.v1", False),
    ("orders.#", "lifecycle.unit-registered.v1", False),
    ("lifecycle.unit-registered.v1", "lifecycle.unit-registered.v2", False),
])
def test_topic_matching_follows_amqp(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


def test_transient_errors_are_recognised_through_wrappers() -> None:
    wrapped = sa_exc.DBAPIError("SELECT 1", None, asyncpg.exceptions.CannotConnectNowError("x"))
    assert is_transient(wrapped)
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(ValueError("bad data"))
    assert not is_transient(sa_exc.IntegrityError("INSERT", None, Exception("duplicate key")))
    # A closed connection is asyncpg's plain InterfaceError; its subclasses are about the client
    # or the statement (its configuration, a feature it lacks): a retry fails the same way.
    assert is_transient(asyncpg.InterfaceError("connection is closed"))
    client_error = next(cls for cls in asyncpg.InterfaceError.__subclasses__()
                        if cls.__name__ == "DataError")("a client-side refusal")
    assert not is_transient(client_error)
    assert not is_transient(sa_exc.DBAPIError("INSERT", None, client_error))
    # What asyncpg really raises for a value it cannot encode (2 ** 40 for an int): SQLSTATE
    # class 22, the caller's input — never an outage, and a 422 over HTTP.
    out_of_range = asyncpg.exceptions.DataError(
        "invalid input for query argument $1: 1099511627776 (value out of int32 range)")
    assert not is_transient(out_of_range)
    assert is_unstorable_value(sa_exc.DBAPIError("SELECT", None, out_of_range))


async def test_in_process_publish_is_confirmed_only_after_consumers_settle() -> None:
    transport = InProcessTransport(event_log=None)
    await transport.start()
    outcomes = iter([Outcome(Verdict.RETRY, "boom"), ACKED])

    async def callback(delivery: Delivery) -> Outcome:
        return next(outcomes)

    await transport.subscribe(Subscription("q.inbox", ["a.#"], callback, delivery_limit=3))
    with pytest.raises(PublishFailed):
        await transport.publish("a.b", b"{}", message_id="m1", headers={})
    await transport.publish("a.b", b"{}", message_id="m1", headers={})  # second attempt acks
    with pytest.raises(PublishFailed, match="unroutable"):
        await transport.publish("other.key", b"{}", message_id="m2", headers={})


async def test_in_process_dead_letters_after_the_delivery_limit() -> None:
    transport = InProcessTransport()
    await transport.start()
    attempts: list[int] = []

    async def always_retry(delivery: Delivery) -> Outcome:
        attempts.append(delivery.attempt)
        return Outcome(Verdict.RETRY, "still broken")

    await transport.subscribe(Subscription("q.inbox", ["#"], always_retry, delivery_limit=3))
    for _ in range(2):
        with pytest.raises(PublishFailed):
            await transport.publish("k", b"x", message_id="m", headers={})
    await transport.publish("k", b"x", message_id="m", headers={})
    assert attempts == [1, 2, 3]
    assert [d.message_id for d in transport.dead_letters] == ["m"]


def test_json_logs_carry_the_trace_id() -> None:
    tracer = TracerProvider().get_tracer("test")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    with tracer.start_as_current_span("work") as span:
        line = json.loads(JsonLogFormatter().format(record))
    assert line["message"] == "hello world"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


