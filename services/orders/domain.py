"""Orders rules as plain functions: no database, no I/O."""

from __future__ import annotations

from datetime import datetime


def is_newer(incoming: datetime, stored: datetime | None) -> bool:
    """Projections apply an event only if it is newer than what they hold (out-of-order safe)."""
    return stored is None or incoming > stored
