"""Events the lifecycle service consumes.

The lifecycle issue adds the devices each person holds (rule U7).
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.events.base import Event
from shared.messaging.consumer import Handler

HANDLERS: Mapping[type[Event], Handler] = {}
