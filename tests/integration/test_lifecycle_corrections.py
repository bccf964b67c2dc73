"""HR corrections through the signed webhook (rule U7): a correction moves or readdresses only
the return cases the corrected event opened, a corrected hire leaves a later transfer standing;
and what only counts while the facts hold: the race rule for a device issued after a move, the
right of a unit's members to report its shared device lost (rules U8, U9)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
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
    outbox,
    transfer,
    wait_cases,
    wait_holding,
)
from tests.system import RunningSystem


async def held(system: RunningSystem, token_for: Any, person: str, unit: str, kind: str = "phone",
               at: datetime | None = None) -> uuid.UUID:
    device = uuid.uuid4()
    await inject(system, issued(device, person, unit, kind), at=at)
    await wait_holding(system, token_for, person, device)
    return device


def by_device(cases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["device_id"]: c for c in cases}


async def test_u7_correcting_a_later_move_leaves_the_overdue_case_of_the_earlier_one(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rule U7: A→B on 03-01 (phone due 02-28, the last day in A, never returned, overdue);
    B→C on 06-01 corrected to 06-15 moves only B's tablet (due 05-31, now 06-14), never the
    phone A's move asked back."""
    system, person = system_inprocess, new_id("E")
    await hire(system.lifecycle, person, "SOC-A", "M-A", recorded_at=minutes(0))
    phone = await held(system, token_for, person, "SOC-A")
    await transfer(system.lifecycle, person, "SOC-A", "SOC-B", "M-B", date(2026, 3, 1),
                   recorded_at=minutes(1))
    tablet = await held(system, token_for, person, "SOC-B", "tablet")
    await transfer(system.lifecycle, person, "SOC-B", "SOC-C", "M-C", date(2026, 6, 1),
                   recorded_at=minutes(2))
    await wait_cases(system, token_for, person, 2)
    fixed = await transfer(system.lifecycle, person, "SOC-B", "SOC-C", "M-C", date(2026, 6, 15),
                           recorded_at=minutes(3))
    assert fixed.json()["outcome"] == "applied"

    cases = by_device(await cases_of(system, token_for, person))
    assert (cases[str(phone)]["due_date"], cases[str(phone)]["receiver_person_id"]) == (
        "2026-02-28", "M-A")
    assert cases[str(phone)]["days_overdue"] > 0  # still overdue
    assert (cases[str(tablet)]["due_date"], cases[str(tablet)]["receiver_person_id"]) == (
        "2026-06-14", "M-B")
    first = await outbox(system, "lifecycle.return-requested.v1", cases[str(phone)]["case_id"])
    assert [a["due_date"] for a in first] == ["2026-02-28"]  # never announced again
    moved = await outbox(system, "lifecycle.return-requested.v1", cases[str(tablet)]["case_id"])
    assert [a["due_date"] for a in moved] == ["2026-05-31", "2026-06-14"]  # the same case again


async def test_u7_correcting_the_end_of_a_later_employment_leaves_the_earlier_ones_case(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rule U7: employed again after an end; correcting the new end's last day moves only the
    case that end opened, not the phone still owed from the first employment."""
    system, person = system_inprocess, new_id("E")
    await hire(system.lifecycle, person, "SOC-A", "M-A", recorded_at=minutes(0))
    phone = await held(system, token_for, person, "SOC-A")
    await end(system.lifecycle, person, "SOC-A", date(2026, 6, 30), "M-A",
              recorded_at=minutes(1))
    await hire(system.lifecycle, person, "SOC-C", "M-C", start=date(2026, 9, 1),
               recorded_at=minutes(2))
    tablet = await held(system, token_for, person, "SOC-C", "tablet")
    await end(system.lifecycle, person, "SOC-C", date(2026, 12, 31), "M-C",
              recorded_at=minutes(3))
    await wait_cases(system, token_for, person, 2)
    await end(system.lifecycle, person, "SOC-C", date(2026, 12, 15), "M-C",
              recorded_at=minutes(4))

    cases = by_device(await cases_of(system, token_for, person))
    assert (cases[str(phone)]["due_date"], cases[str(phone)]["receiver_person_id"]) == (
        "2026-06-30", "M-A")
    assert (cases[str(tablet)]["due_date"], cases[str(tablet)]["receiver_person_id"]) == (
        "2026-12-15", "M-C")


async def test_u7_an_end_repeated_with_a_corrected_manager_readdresses_its_cases(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rule U7: the same last day to another nearest manager is a correction: the end's cases
    go to the right manager and return-requested is published again (newest per case wins);
    a later corrected last day with yet another manager moves and readdresses them at once."""
    system, person, client = system_inprocess, new_id("E"), system_inprocess.lifecycle
    await hire(client, person, "SOC-A", "M-A", recorded_at=minutes(0))
    await held(system, token_for, person, "SOC-A")
    await end(client, person, "SOC-A", date(2026, 6, 30), "M-WRONG", recorded_at=minutes(1))
    [case] = await wait_cases(system, token_for, person, 1)
    assert case["receiver_person_id"] == "M-WRONG"

    fixed = await end(client, person, "SOC-A", date(2026, 6, 30), "M-RIGHT",
                      recorded_at=minutes(2))
    assert fixed.json()["outcome"] == "applied", fixed.text
    [now] = await cases_of(system, token_for, person)
    assert (now["case_id"], now["receiver_person_id"]) == (case["case_id"], "M-RIGHT")
    listed = await client.get("/v1/managers/M-RIGHT/return-cases",
                              headers=token_for("M-RIGHT", "employee"))
    assert case["case_id"] in [c["case_id"] for c in listed.json()]

    await end(client, person, "SOC-A", date(2026, 7, 15), "M-OTHER", recorded_at=minutes(3))
    [moved] = await cases_of(system, token_for, person)
    assert (moved["due_date"], moved["receiver_person_id"]) == ("2026-07-15", "M-OTHER")
    announced = await outbox(system, "lifecycle.return-requested.v1", case["case_id"])
    assert [(a["due_date"], a["receiver_person_id"]) for a in announced] == [
        ("2026-06-30", "M-WRONG"), ("2026-06-30", "M-RIGHT"), ("2026-07-15", "M-OTHER")]
    again = await end(client, person, "SOC-A", date(2026, 7, 15), "M-OTHER",
                      recorded_at=minutes(4))
    assert again.json()["outcome"] == "unchanged"


async def test_u7_a_corrected_hire_after_a_transfer_changes_only_the_start_date(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rule U7: a corrected employee.hired sent after a transfer does not undo the move."""
    system, person, client = system_inprocess, new_id("E"), system_inprocess.lifecycle
    await hire(client, person, "SOC-A", "M-A", start=date(2024, 1, 1), recorded_at=minutes(0))
    await transfer(client, person, "SOC-A", "SOC-B", "M-B", date(2026, 5, 1),
                   recorded_at=minutes(1))
    fixed = await hire(client, person, "SOC-A", "M-A", start=date(2024, 2, 1),
                       recorded_at=minutes(2))
    assert fixed.json()["outcome"] == "applied", fixed.text
    now = (await client.get(f"/v1/people/{person}", headers=token_for(*IT))).json()
    assert (now["start_date"], now["unit_id"], now["nearest_manager_id"], now["placement"],
            now["placed_on"], now["previous_unit_id"]) == (
        "2024-02-01", "SOC-B", "M-B", "transferred", "2026-05-01", "SOC-A")
    hired = await outbox(system, "lifecycle.employee-hired.v1", person)
    assert (hired[-1]["unit_id"], hired[-1]["start_date"]) == ("SOC-B", "2024-02-01")


async def test_u7_a_device_of_the_old_unit_issued_after_the_move_took_effect_is_not_overdue(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rule U7: the race rule is for devices issued before the move took effect; one issued
    months later gets no transfer case (it would be overdue on arrival)."""
    system, person = system_inprocess, new_id("E")
    await hire(system.lifecycle, person, "SOC-A", "M-A", recorded_at=minutes(0))
    await transfer(system.lifecycle, person, "SOC-A", "SOC-B", "M-B", date(2026, 5, 1),
                   recorded_at=minutes(1))
    await held(system, token_for, person, "SOC-A", at=datetime(2026, 8, 3, 9, tzinfo=UTC))
    assert await cases_of(system, token_for, person) == []
    early = await held(system, token_for, person, "SOC-A",
                       at=datetime(2026, 4, 20, 9, tzinfo=UTC))  # before: the race, goes back
    [case] = await wait_cases(system, token_for, person, 1)
    assert (case["device_id"], case["due_date"]) == (str(early), "2026-04-30")  # last day in A


async def test_u8_u9_an_ended_employment_gives_no_right_to_report_the_units_device_lost(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rules U8, U9: a former member of the unit (last day passed) may not report its shared
    device lost; someone still working their last days there may."""
    unit, former, leaving, tablet = new_id("SOC"), new_id("E"), new_id("E"), uuid.uuid4()
    client = system_inprocess.lifecycle
    for person in (former, leaving):
        await hire(client, person, unit, "M-1", recorded_at=minutes(0))
    await end(client, former, unit, date(2026, 1, 31), recorded_at=minutes(1))
    await end(client, leaving, unit, date(2099, 12, 31), recorded_at=minutes(1))
    await inject(system_inprocess, issued(tablet, None, unit, "tablet"))
    refused = await client.post("/v1/losses", headers=token_for(former, "employee"),
                                json={"device_id": str(tablet)})
    assert refused.status_code == 403, refused.text
    reported = await client.post("/v1/losses", headers=token_for(leaving, "employee"),
                                 json={"device_id": str(tablet)})
    assert reported.status_code == 201, reported.text
