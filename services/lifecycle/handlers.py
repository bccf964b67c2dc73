"""Events the lifecycle service consumes: inventory's, to know who holds what (rules U7, U9, C2)
and which subscription is on which phone (P1).

Each handler runs inside the consumer's inbox transaction; the envelope's `time` (the commit
time at inventory) orders events about one device.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle import holdings
from shared.events.base import Envelope, Event
from shared.events.catalogue import (
    DeviceConsumed,
    DeviceIssued,
    DeviceLost,
    DeviceReturned,
    SubscriptionActivated,
    SubscriptionTerminated,
)
from shared.messaging.consumer import Handler
from shared.settings import LifecycleSettings, load


@cache
def _settings() -> LifecycleSettings:
    # Handlers get no runtime; the same environment the service started with is read once.
    return load(LifecycleSettings)


async def on_device_issued(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, DeviceIssued)
    await holdings.apply_issued(session, event, envelope.time,
                                timezone=_settings().timezone)


async def on_device_returned(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, DeviceReturned)
    await holdings.apply_returned(session, event, envelope.time,
                                  timezone=_settings().timezone)


async def on_device_lost(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, DeviceLost)
    await holdings.apply_lost(session, event, envelope.time)


async def on_device_consumed(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, DeviceConsumed)
    await holdings.apply_consumed(session, event, hand_in_days=_settings().hand_in_days)


async def on_subscription(session: AsyncSession, envelope: Envelope, event: Event) -> None:
    assert isinstance(event, SubscriptionActivated | SubscriptionTerminated)
    await holdings.apply_subscription(session, event, envelope.time)


HANDLERS: Mapping[type[Event], Handler] = {
    DeviceIssued: on_device_issued,
    DeviceReturned: on_device_returned,
    DeviceLost: on_device_lost,
    DeviceConsumed: on_device_consumed,
    SubscriptionActivated: on_subscription,
    SubscriptionTerminated: on_subscription,
}
