"""Event contracts: the catalogue (pydantic models) and the CloudEvents envelope."""

from shared.events.base import Envelope, Event, decode, encode, wrap
from shared.events.catalogue import ALL_EVENTS, BY_ROUTING_KEY, REGISTRY

__all__ = [
    "ALL_EVENTS", "BY_ROUTING_KEY", "REGISTRY", "Envelope", "Event", "decode", "encode", "wrap",
]
