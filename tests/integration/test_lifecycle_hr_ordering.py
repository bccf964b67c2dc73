"""HR events that arrive late or out of order (rule U7): lifecycle applies, per person, the
newest by HR's `timestamp`; an end is final for the employment it ends; corrections move the
due dates; nothing makes a device walk out. The semantics are documented in docs/lifecycle.md."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from tests.lifecycle_helpers import (
    IT,
    cases_of,
    end,
    hire,
    hr_send,
    inject,
    issued,
    minutes,
    new_id,
    outbox,
    transfer,
    wait_cases,
    wait_holding,
)
from tests.system import RunningSystem


async def person_now(system: RunningSystem, token_for: Any, person: str) -> dict[str, Any]:
    response = await system.lifecycle.get(f"/v1/people/{person}", headers=token_for(*IT))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def held_phone(system: RunningSystem, token_for: Any, person: str, unit: str
                     ) -> uuid.UUID:
    phone = uuid.uuid4()
    await inject(system, issued(phone, person, unit))
    await wait_holding(system, token_for, person, phone)
    return phone


async def test_u7_end_before_the_hire_still_opens_the_case_and_the_late_hire_is_stale(
        system: RunningSystem, token_for: Any) -> None:
    person, client = new_id("E"), system.lifecycle
    phone = await held_phone(system, token_for, person, "SOC-A")  # issued before HR said a word
    ended = await end(client, person, "SOC-A", date(2026, 6, 30), "M-A", recorded_at=minutes(5))
    assert ended.json()["outcome"] == "applied"
    [case] = await wait_cases(system, token_for, person, 1)
    assert (case["device_id"], case["receiver_person_id"]) == (str(phone), "M-A")

    late = await hire(client, person, "SOC-A", "M-A", recorded_at=minutes(1))
    assert late.json()["outcome"] == "stale"
    now = await person_now(system, token_for, person)
    assert now["status"] == "ended" and now["last_day"] == "2026-06-30"
    assert await outbox(system, "lifecycle.employee-hired.v1", person) == []


async def test_u7_a_transfer_recorded_after_the_end_is_ignored_and_opens_nothing(
        system: RunningSystem, token_for: Any) -> None:
    person, client = new_id("E"), system.lifecycle
    await hire(client, person, "SOC-A", "M-A", recorded_at=minutes(0))
    phone = await held_phone(system, token_for, person, "SOC-A")
    await end(client, person, "SOC-A", date(2026, 6, 30), recorded_at=minutes(10))
    after = await transfer(client, person, "SOC-A", "SOC-B", "M-B", date(2026, 6, 1),
                           recorded_at=minutes(20))
    assert after.json()["outcome"] == "ignored-after-end"
    assert "2026-06-30" in after.json()["detail"]
    [case] = await cases_of(system, token_for, person)
    assert (case["device_id"], case["reason"], case["receiver_person_id"]) == (
        str(phone), "employment-ended", "M-A")
    assert (await person_now(system, token_for, person))["unit_id"] == "SOC-A"
    assert await outbox(system, "lifecycle.employee-transferred.v1", person) == []


async def test_u7_a_transfer_recorded_before_the_end_but_delivered_after_it_is_stale(
        system: RunningSystem, token_for: Any) -> None:
    person, client = new_id("E"), system.lifecycle
    await hire(client, person, "SOC-A", "M-A", recorded_at=minutes(0))
    await held_phone(system, token_for, person, "SOC-A")
    await end(client, person, "SOC-B", date(2026, 6, 30), "M-B", recorded_at=minutes(20))
    late = await transfer(client, person, "SOC-A", "SOC-B", "M-B", date(2026, 5, 1),
                          recorded_at=minutes(10))
    assert late.json()["outcome"] == "stale"
    [case] = await cases_of(system, token_for, person)
    assert case["reason"] == "employment-ended" and case["due_date"] == "2026-06-30"


async def test_u7_a_corrected_last_day_moves_the_due_date_and_a_late_old_one_does_not(
        system: RunningSystem, token_for: Any) -> None:
    person, client = new_id("E"), system.lifecycle
    await hire(client, person, "SOC-A", "M-A", recorded_at=minutes(0))
    await held_phone(system, token_for, person, "SOC-A")
    await end(client, person, "SOC-A", date(2026, 6, 30), recorded_at=minutes(10))
    [case] = await wait_cases(system, token_for, person, 1)
    corrected = await end(client, person, "SOC-A", date(2026, 7, 15), recorded_at=minutes(30))
    assert corrected.json()["outcome"] == "applied"
    assert "corrected" in corrected.json()["detail"]
    older = await end(client, person, "SOC-A", date(2026, 6, 20), recorded_at=minutes(20))
    assert older.json()["outcome"] == "stale"

    [moved] = await cases_of(system, token_for, person)
    assert moved["case_id"] == case["case_id"] and moved["due_date"] == "2026-07-15"
    announced = await outbox(system, "lifecycle.return-requested.v1", case["case_id"])
    assert [a["due_date"] for a in announced] == ["2026-06-30", "2026-07-15"]
    ends = await outbox(system, "lifecycle.employment-ended.v1", person)
    assert [e["last_day"] for e in ends] == ["2026-06-30", "2026-07-15"]
    assert (await person_now(system, token_for, person))["last_day"] == "2026-07-15"


async def test_u7_an_end_in_the_future_opens_the_case_now_due_that_day(
        system: RunningSystem, token_for: Any) -> None:
    person, client = new_id("E"), system.lifecycle
    await hire(client, person, "SOC-A", "M-A", recorded_at=minutes(0))
    await held_phone(system, token_for, person, "SOC-A")
    await end(client, person, "SOC-A", date(2099, 12, 31), recorded_at=minutes(1))
    [case] = await wait_cases(system, token_for, person, 1)
    assert case["due_date"] == "2099-12-31" and case["days_overdue"] == 0
    assert (await person_now(system, token_for, person))["status"] == "leaving"
    run = await client.post("/v1/return-cases/escalations", headers=token_for(*IT))
    assert case["case_id"] not in {e["case_id"] for e in run.json()["escalated"]}


async def test_u7_employed_again_after_the_end_keeps_the_old_cases_open(
        system: RunningSystem, token_for: Any) -> None:
    person, client = new_id("E"), system.lifecycle
    await hire(client, person, "SOC-A", "M-A", recorded_at=minutes(0))
    await held_phone(system, token_for, person, "SOC-A")
    await end(client, person, "SOC-A", date(2026, 6, 30), recorded_at=minutes(10))
    not_again = await hire(client, person, "SOC-A", "M-A", start=date(2026, 6, 1),
                           recorded_at=minutes(20))
    assert not_again.json()["outcome"] == "ignored-after-end"
    again = await hire(client, person, "SOC-C", "M-C", start=date(2026, 9, 1),
                       recorded_at=minutes(30))
    assert again.json()["outcome"] == "applied"
    now = await person_now(system, token_for, person)
    assert (now["status"], now["unit_id"], now["last_day"]) == ("employed", "SOC-C", None)
    [case] = await cases_of(system, token_for, person, "open")
    assert case["reason"] == "employment-ended"  # the old employment's device is still owed


async def test_the_same_content_again_under_a_new_id_and_newer_time_is_unchanged(
        system: RunningSystem, token_for: Any) -> None:
    person, client = new_id("E"), system.lifecycle
    await hire(client, person, "SOC-A", "M-A", recorded_at=minutes(0))
    again = await hire(client, person, "SOC-A", "M-A", recorded_at=minutes(1))
    assert again.json()["outcome"] == "unchanged"
    assert (await person_now(system, token_for, person))["version"] == 1
    assert len(await outbox(system, "lifecycle.employee-hired.v1", person)) == 1
    log = await client.get("/v1/hr/events", params={"subject": person},
                           headers=token_for("aud-1", "auditor"))
    assert sorted(e["outcome"] for e in log.json()) == ["applied", "unchanged"]


async def test_an_unknown_hr_event_type_is_refused(system_inprocess: RunningSystem) -> None:
    response = await hr_send(system_inprocess.lifecycle, "employee.promoted",
                             {"person_id": "E1"})
    assert response.status_code == 422
    assert "employee.hired" in response.json()["detail"]  # names the types that exist


@pytest.mark.parametrize("end_first", [False, True], ids=["hire-first", "end-first"])
async def test_u7_a_fixed_term_hire_and_its_end_recorded_at_one_time_both_apply(
        system: RunningSystem, token_for: Any, end_first: bool) -> None:
    """rule U7: HR records a fixed-term hire and its end in one batch, with one timestamp. The
    end ranks after the hire: in either arrival order it opens the return case."""
    person, client = new_id("E"), system.lifecycle
    phone = await held_phone(system, token_for, person, "SOC-A")
    last_day = date(2026, 6, 30)
    if end_first:
        ended = await end(client, person, "SOC-A", last_day, "M-A", recorded_at=minutes(0))
        hired = await hire(client, person, "SOC-A", "M-A", recorded_at=minutes(0))
    else:
        hired = await hire(client, person, "SOC-A", "M-A", recorded_at=minutes(0))
        ended = await end(client, person, "SOC-A", last_day, "M-A", recorded_at=minutes(0))
    assert ended.json()["outcome"] == "applied", ended.text
    assert hired.json()["outcome"] == ("stale" if end_first else "applied"), hired.text
    [case] = await wait_cases(system, token_for, person, 1)
    assert (case["device_id"], case["reason"], case["due_date"]) == (
        str(phone), "employment-ended", "2026-06-30")
    now = await person_now(system, token_for, person)
    assert (now["status"], now["last_day"]) == ("ended", "2026-06-30")
    ends = await outbox(system, "lifecycle.employment-ended.v1", person)
    assert [e["last_day"] for e in ends] == ["2026-06-30"]


async def test_u7_a_hire_and_a_transfer_recorded_at_one_time_end_in_the_new_unit(
        system: RunningSystem, token_for: Any) -> None:
    """rule U7: a transfer recorded at the hire's timestamp ranks after it and applies."""
    person, client = new_id("E"), system.lifecycle
    await hire(client, person, "SOC-A", "M-A", recorded_at=minutes(0))
    phone = await held_phone(system, token_for, person, "SOC-A")
    moved = await transfer(client, person, "SOC-A", "SOC-B", "M-B", date(2026, 5, 1),
                           recorded_at=minutes(0))
    assert moved.json()["outcome"] == "applied", moved.text
    [case] = await wait_cases(system, token_for, person, 1)
    assert (case["device_id"], case["reason"], case["receiver_person_id"]) == (
        str(phone), "transferred", "M-A")
    assert (await person_now(system, token_for, person))["unit_id"] == "SOC-B"
    again = await hire(client, person, "SOC-A", "M-A", recorded_at=minutes(0))
    assert again.json()["outcome"] == "stale"  # a hire does not follow a transfer of its time
    assert (await person_now(system, token_for, person))["unit_id"] == "SOC-B"
