"""Lifecycle enforces the effective policy (rule B5): a unit's shorter return deadline and faster
escalation (U7), and a unit or administration that allows no private use (P1)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from tests.lifecycle_helpers import (
    IT,
    cases_of,
    end,
    hire,
    inject,
    issued,
    minutes,
    new_id,
    transfer,
    wait_cases,
    wait_holding,
)
from tests.lifecycle_policy_helpers import (
    AGREEMENTS,
    as_,
    ask,
    register,
    requested,
    set_administration_rules,
    set_unit_rules,
    staff,
)
from tests.system import RunningSystem


async def person_with_phone(system: RunningSystem, token_for: Any, unit: str
                            ) -> tuple[str, uuid.UUID]:
    person, phone = new_id("E"), uuid.uuid4()
    await hire(system.lifecycle, person, unit, new_id("M"), recorded_at=minutes(0))
    await inject(system, issued(phone, person, unit))
    await wait_holding(system, token_for, person, phone)
    return person, phone


async def test_b5_u7_a_units_shorter_return_deadline_sets_the_due_date(
        system: RunningSystem, token_for: Any) -> None:
    client = system.lifecycle
    strict, plain = new_id("STR"), new_id("SOC")
    await register(client, strict, new_id("H"))
    await register(client, plain, new_id("H"))
    rules = await set_unit_rules(client, token_for, strict,
                                 {"return_due_days_after_last_day": -3})
    assert rules.status_code == 200, rules.text
    last_day = date(2026, 12, 31)
    for unit, due in ((strict, last_day - timedelta(days=3)), (plain, last_day)):
        person, _ = await person_with_phone(system, token_for, unit)
        await end(client, person, unit, last_day, recorded_at=minutes(1))
        [case] = await wait_cases(system, token_for, person, 1)
        assert case["due_date"] == due.isoformat(), unit
        # An HR correction of the last day keeps the unit's rule.
        await end(client, person, unit, last_day + timedelta(days=7), recorded_at=minutes(2))
        [moved] = await cases_of(system, token_for, person)
        assert moved["due_date"] == (due + timedelta(days=7)).isoformat(), unit


async def test_b5_u7_the_return_deadline_of_the_unit_left_applies_to_a_move(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, client = system_inprocess, system_inprocess.lifecycle
    old, new = new_id("OLD"), new_id("NEW")
    await register(client, old, new_id("H"))
    await register(client, new, new_id("H"))
    assert (await set_unit_rules(client, token_for, old, {
        "return_due_days_after_last_day": -1})).status_code == 200
    person, _ = await person_with_phone(system, token_for, old)
    await transfer(client, person, old, new, new_id("M"), date(2026, 9, 1),
                   recorded_at=minutes(1))
    [case] = await wait_cases(system, token_for, person, 1)
    assert case["due_date"] == "2026-08-30"  # a day before 08-31, the last day in the old unit


async def test_b5_u7_a_units_escalation_interval_sets_the_escalation_levels(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, client = system_inprocess, system_inprocess.lifecycle
    fast, plain = new_id("FAST"), new_id("SOC")
    await register(client, fast, new_id("H"))
    await register(client, plain, new_id("H"))
    assert (await set_unit_rules(client, token_for, fast, {
        "escalation_interval_days": 2})).status_code == 200
    cases = {}
    for unit in (fast, plain):
        person, _ = await person_with_phone(system, token_for, unit)
        await end(client, person, unit, date(2020, 3, 1), recorded_at=minutes(1))
        [cases[unit]] = await wait_cases(system, token_for, person, 1)

    async def levels(as_of: str) -> dict[str, list[int]]:
        response = await client.post("/v1/return-cases/escalations", params={"as_of": as_of},
                                     headers=token_for(*IT))
        assert response.status_code == 200, response.text
        return {unit: [e["level"] for e in response.json()["escalated"]
                       if e["case_id"] == case["case_id"]] for unit, case in cases.items()}

    assert await levels("2020-03-02") == {fast: [1], plain: [1]}
    # Five days overdue: every two days a level in the fast unit, every seven in the other.
    assert await levels("2020-03-06") == {fast: [3], plain: []}
    assert await levels("2020-03-09") == {fast: [4], plain: [2]}


async def test_b5_p1_no_private_use_where_a_local_rule_forbids_it(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, client = system_inprocess, system_inprocess.lifecycle
    s = await staff(system, token_for)
    pending = await requested(system, token_for, s)
    forbid = await set_administration_rules(client, token_for, s.administration,
                                            {"private_use_allowed": False})
    assert forbid.status_code == 200, forbid.text
    approval = await client.post(f"{AGREEMENTS}/{pending['agreement_id']}/approval",
                                 headers=as_(token_for, s.head, "department-head"))
    assert approval.status_code == 422 and "B5" in approval.json()["detail"], approval.text
    refused = await client.post(f"{AGREEMENTS}/{pending['agreement_id']}/end",
                                headers=as_(token_for, s.person))
    assert refused.json()["status"] == "cancelled"
    again = await ask(system, token_for, s)
    assert again.status_code == 422 and "does not allow private use" in again.json()["detail"]
