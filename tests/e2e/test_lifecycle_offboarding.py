"""Offboarding end to end (rule U7), on both transports: HR hires a person, inventory issues a
phone (its event injected on the transport), HR ends the employment, the nearest manager sees
the return case, inventory reports the phone returned, and the case is completed."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from tests.lifecycle_helpers import (
    IT,
    cases_of,
    end,
    hire,
    inject,
    issued,
    new_id,
    outbox,
    register_unit,
    returned,
    wait_cases,
    wait_holding,
)
from tests.system import RunningSystem, eventually


async def test_u7_employment_end_returns_every_device_to_the_nearest_manager(
        system: RunningSystem, token_for: Any) -> None:
    person, manager, head = new_id("E"), new_id("M"), new_id("H")
    unit = new_id("SOC")
    await register_unit(system.lifecycle, unit, head)
    await hire(system.lifecycle, person, unit, manager)
    phone, tablet, shared = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await inject(system, issued(phone, person, unit, "phone"))
    await inject(system, issued(tablet, person, unit, "tablet"))
    await inject(system, issued(shared, None, unit, "tablet"))  # the unit's, not the person's
    await wait_holding(system, token_for, person, tablet)

    ended = await end(system.lifecycle, person, unit, date(2026, 6, 30))
    assert ended.json()["outcome"] == "applied"

    mine = await system.lifecycle.get(f"/v1/managers/{manager}/return-cases",
                                      headers=token_for(manager, "employee"))
    assert mine.status_code == 200, mine.text
    cases = {c["device_id"]: c for c in mine.json() if c["person_id"] == person}
    assert set(cases) == {str(phone), str(tablet)}  # the shared tablet stays with the unit (U8)
    for case in cases.values():
        assert case["status"] == "open"
        assert case["reason"] == "employment-ended"
        assert case["due_date"] == "2026-06-30"
        assert case["receiver_person_id"] == manager
    requested = await outbox(system, "lifecycle.return-requested.v1",
                             cases[str(phone)]["case_id"])
    assert [r["receiver_person_id"] for r in requested] == [manager]

    await inject(system, returned(phone, person, unit))
    done = await eventually(lambda: cases_of(system, token_for, person, "completed"),
                            lambda found: len(found) == 1)
    assert [c["device_id"] for c in done] == [str(phone)]
    assert done[0]["received_by"] == "it-desk"
    completed = await outbox(system, "lifecycle.return-completed.v1", done[0]["case_id"])
    assert len(completed) == 1 and completed[0]["person_id"] == person

    still_open = await wait_cases(system, token_for, person, 1, "open")
    assert still_open[0]["device_id"] == str(tablet)
    everything = await system.lifecycle.get("/v1/return-cases", params={"person_id": person,
                                            "status": "all"}, headers=token_for(*IT))
    assert len(everything.json()) == 2
