"""A whole workflow across services: lifecycle registers a unit, orders learns it via events."""

from __future__ import annotations

import uuid

from opentelemetry import trace

from tests.system import RunningSystem, eventually


async def test_unit_registered_in_lifecycle_reaches_orders(system: RunningSystem, token_for
                                                           ) -> None:  # type: ignore[no-untyped-def]
    unit_id = f"U-{uuid.uuid4().hex[:8]}"
    created = await system.lifecycle.post("/v1/units", headers=token_for("it-1", "it-service"),
                                          json={"unit_id": unit_id, "name": "Hemtjänst Norr",
                                                "administration": "Socialförvaltningen",
                                                "cost_centre": "41230",
                                                "head_person_id": "head-1"})
    assert created.status_code == 201, created.text
    seen = await eventually(
        lambda: system.orders.get(f"/v1/units/{unit_id}", headers=token_for("o-1", "orderer")),
        lambda r: r.status_code == 200)
    assert seen.status_code == 200, seen.text
    assert seen.json()["cost_centre"] == "41230"
    assert seen.json()["head_person_id"] == "head-1"

    changed = await system.lifecycle.put(f"/v1/units/{unit_id}",
                                         headers=token_for("it-1", "it-service"),
                                         json={"name": "Hemtjänst Norr", "cost_centre": "41231",
                                               "administration": "Socialförvaltningen",
                                               "head_person_id": "head-2"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    updated = await eventually(
        lambda: system.orders.get(f"/v1/units/{unit_id}", headers=token_for("o-1", "orderer")),
        lambda r: r.json().get("head_person_id") == "head-2")
    assert updated.json()["cost_centre"] == "41231"
    assert trace.get_current_span() is not None
