"""Events the orders service consumes."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import service
from shared.events.base import Envelope, Event
from shared.events.catalogue import UnitChanged, UnitRegistered
from shared.messaging.consumer import Handler


async def on_unit(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, UnitRegistered)  # UnitChanged subclasses it
    await service.apply_unit(session, event, envelope.time)


HANDLERS: Mapping[type[Event], Handler] = {UnitRegistered: on_unit, UnitChanged: on_unit}
