"""Domain rules of the three services, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.inventory.domain import check_intake
from services.lifecycle.domain import check_parent
from services.orders.domain import is_newer
from shared.errors import RuleViolation


def test_o1_device_without_order_needs_recorded_exception() -> None:
    with pytest.raises(RuleViolation, match="O1"):
        check_intake(None, None)
    check_intake(None, "Replacement from the supplier's swap stock")
    check_intake(uuid.uuid4(), None)


def test_unit_cannot_be_its_own_parent_or_hang_under_an_unknown_unit() -> None:
    with pytest.raises(RuleViolation, match="own parent"):
        check_parent("A", "A", parent_exists=True)
    with pytest.raises(RuleViolation, match="not registered"):
        check_parent("A", "B", parent_exists=False)
    check_parent("A", "B", parent_exists=True)
    check_parent("A", None, parent_exists=False)


def test_projection_applies_only_newer_events() -> None:
    now = datetime.now(UTC)
    assert is_newer(now, None)
    assert is_newer(now, now - timedelta(seconds=1))
    assert not is_newer(now - timedelta(seconds=1), now)
    assert not is_newer(now, now)
