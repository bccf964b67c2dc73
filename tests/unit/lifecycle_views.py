"""What lifecycle's domain rules read, built for unit tests: a person as the HR flow left them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.lifecycle.domain import PersonView

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def person(**overrides: object) -> PersonView:
    values: dict[str, object] = dict(
        person_id="E1", unit_id="A", nearest_manager_id="M-A", placement="hired",
        placed_on=date(2024, 1, 1), previous_unit_id=None, previous_manager_id=None,
        last_day=None, hr_time=T0)
    values.update(overrides)
    return PersonView(**values)  # type: ignore[arg-type]
