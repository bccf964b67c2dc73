"""Lifecycle rules as plain functions: no database, no I/O."""

from __future__ import annotations

from shared.errors import RuleViolation


def check_parent(unit_id: str, parent_unit_id: str | None, parent_exists: bool) -> None:
    """A unit hangs under an existing unit, never under itself."""
    if parent_unit_id is None:
        return
    if parent_unit_id == unit_id:
        raise RuleViolation(f"Unit {unit_id} cannot be its own parent unit")
    if not parent_exists:
        raise RuleViolation(f"Parent unit {parent_unit_id} is not registered")
