"""The transactional outbox: an event is written in the same transaction as the state change."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.base import Envelope, Event, wrap
from shared.messaging.tables import tables_of
from shared.telemetry import current_traceparent


async def add_event(session: AsyncSession, event: Event, *, subject: str | None = None) -> Envelope:
    """Record `event` for publication; it is published only if the caller's transaction commits."""
    traceparent = current_traceparent()
    envelope = wrap(event, subject=subject, traceparent=traceparent)
    await session.execute(
        insert(tables_of(session).outbox).values(
            event_id=envelope.id,
            routing_key=event.routing_key(),
            envelope=envelope.model_dump(mode="json", exclude_none=True),
            traceparent=traceparent,
        )
    )
    return envelope
