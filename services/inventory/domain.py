"""Inventory rules as plain functions: no database, no I/O."""

from __future__ import annotations

import uuid

from shared.errors import RuleViolation


def check_intake(order_id: uuid.UUID | None, intake_exception: str | None) -> None:
    """rule O1: nothing enters the inventory without an order, or a recorded exception."""
    if order_id is None and not intake_exception:
        raise RuleViolation(
            "A device without an order needs a recorded reason (intake_exception), rule O1"
        )
