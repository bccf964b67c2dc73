"""The event base class and the CloudEvents 1.0 envelope (structured JSON mode).

Every event is a frozen pydantic model defined once, in `shared.events.catalogue`. On the wire it
travels inside a CloudEvent whose `data` is the model; the AMQP `message_id` is the CloudEvent `id`
and the routing key is `<service>.<event-name>.v<N>`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
TYPE_PREFIX = "se.varnamo.kommunmobil."
SOURCE_PREFIX = "/kommunmobil/"
SCHEMA_BASE = "https://kommunmobil.varnamo.se/schemas/"


class Event(BaseModel):
    """An integration event: a past-tense fact one service announces to the others."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: ClassVar[str]
    event_name: ClassVar[str]
    version: ClassVar[int] = 1

    @classmethod
    def routing_key(cls) -> str:
        return f"{cls.service}.{cls.event_name}.v{cls.version}"

    @classmethod
    def cloudevent_type(cls) -> str:
        return TYPE_PREFIX + cls.routing_key()


class Envelope(BaseModel):
    """CloudEvents 1.0 structured-mode envelope, with the distributed-tracing extension."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    subject: str | None = None
    traceparent: str | None = None
    data: dict[str, Any]

    @property
    def routing_key(self) -> str:
        return self.type.removeprefix(TYPE_PREFIX)


class UnknownEventType(ValueError):
    pass


def wrap(event: Event, *, subject: str | None = None, traceparent: str | None = None) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        source=SOURCE_PREFIX + event.service,
        type=event.cloudevent_type(),
        time=datetime.now(UTC),
        dataschema=f"{SCHEMA_BASE}{event.routing_key()}.json",
        subject=subject,
        traceparent=traceparent,
        data=event.model_dump(mode="json"),
    )


def encode(envelope: Envelope) -> bytes:
    return envelope.model_dump_json(exclude_none=True).encode()


def decode(body: bytes, registry: dict[str, type[Event]]) -> tuple[Envelope, Event]:
    """Parse bytes into envelope and typed event; raises ValidationError / UnknownEventType."""
    envelope = Envelope.model_validate_json(body)
    event_cls = registry.get(envelope.type)
    if event_cls is None:
        raise UnknownEventType(f"no event contract for type {envelope.type!r}")
    # Unknown fields are ignored, not refused: within a version fields are only ever added
    # (docs/events.md), so an event from a producer deployed before this consumer is valid.
    # Refused, it went straight to the DLQ for the whole of a rolling deploy.
    return envelope, event_cls.model_validate(envelope.data, extra="ignore")


__all__ = [
    "CLOUDEVENTS_CONTENT_TYPE",
    "Envelope",
    "Event",
    "UnknownEventType",
    "ValidationError",
    "decode",
    "encode",
    "wrap",
]
