"""Events the inventory service consumes. The inventory issue adds order-approved (rule O3)."""

from __future__ import annotations

from collections.abc import Mapping

from shared.events.base import Event
from shared.messaging.consumer import Handler

HANDLERS: Mapping[type[Event], Handler] = {}
