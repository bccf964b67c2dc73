"""Return cases through HTTP and events (rules U7, U8, C2, C3): transfers, the device issued
after the end (a race), inventory's events out of order, hand-ins, and the overdue escalation."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text

from shared.events.catalogue import DeviceConsumed
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
    register_unit,
    returned,
    transfer,
    wait_cases,
    wait_holding,
)
from tests.lifecycle_policy_helpers import set_unit_rules
from tests.system import RunningSystem, eventually


async def test_u7_transfer_returns_the_old_units_personal_devices_to_the_old_manager(
        system: RunningSystem, token_for: Any) -> None:
    client = system.lifecycle
    person, old_manager, new_manager = new_id("E"), new_id("MA"), new_id("MB")
    unit_a, unit_b = new_id("A"), new_id("B")
    await hire(client, person, unit_a, old_manager, recorded_at=minutes(0))
    phone, b_tablet, shared = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await inject(system, issued(phone, person, unit_a, "phone"))
    await inject(system, issued(b_tablet, person, unit_b, "tablet"))  # the new unit's already
    await inject(system, issued(shared, None, unit_a, "tablet"))  # shared: stays in A (U8)
    await wait_holding(system, token_for, person, b_tablet)

    moved = await transfer(client, person, unit_a, unit_b, new_manager, date(2026, 9, 1),
                           recorded_at=minutes(1))
    assert moved.json()["outcome"] == "applied"
    [case] = await wait_cases(system, token_for, person, 1)
    assert (case["device_id"], case["reason"], case["due_date"], case["receiver_person_id"],
            case["unit_id"]) == (str(phone), "transferred", "2026-08-31", old_manager, unit_a)
    for manager in (old_manager, new_manager):  # addressed to one, the other's staff now
        listed = await client.get(f"/v1/managers/{manager}/return-cases",
                                  headers=token_for(manager, "employee"))
        assert [c["case_id"] for c in listed.json()] == [case["case_id"]], manager
    [event] = await outbox(system, "lifecycle.employee-transferred.v1", person)
    assert (event["from_unit_id"], event["to_unit_id"], event["nearest_manager_id"]) == (
        unit_a, unit_b, new_manager)

    # Issued after the transfer was announced, before it took effect: the old unit's goes
    # back, the new unit's stays (one issued after it took effect: test_lifecycle_corrections).
    late_a, new_b = uuid.uuid4(), uuid.uuid4()
    await inject(system, issued(late_a, person, unit_a), at=datetime(2026, 8, 20, tzinfo=UTC))
    await inject(system, issued(new_b, person, unit_b))
    await wait_holding(system, token_for, person, new_b)
    cases = await wait_cases(system, token_for, person, 2)
    assert {c["device_id"] for c in cases} == {str(phone), str(late_a)}
    assert {(c["receiver_person_id"], c["due_date"]) for c in cases} == {
        (old_manager, "2026-08-31")}  # the race case too: the last day in the unit left


async def test_u7_a_transfer_makes_the_old_units_devices_due_on_the_last_day_there(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rule U7 "due on the last day": HR's effective_date is the first day in the new unit, so a
    move effective 2027-03-01 asks the old unit's phone back on 2027-02-28, the last day there.
    A unit's shorter deadline (B5) counts from that last day, and HR's correction of the date
    moves the same case by the same rule."""
    system, client = system_inprocess, system_inprocess.lifecycle
    plain, strict, new = new_id("SOC"), new_id("STR"), new_id("NEW")
    for unit in (plain, strict, new):
        await register_unit(client, unit, new_id("H"))
    rules = await set_unit_rules(client, token_for, strict,
                                 {"return_due_days_after_last_day": -2})
    assert rules.status_code == 200, rules.text
    for unit, due, corrected_due in ((plain, "2027-02-28", "2027-03-14"),
                                     (strict, "2027-02-26", "2027-03-12")):
        person, manager, new_manager, phone = new_id("E"), new_id("M"), new_id("MN"), uuid.uuid4()
        await hire(client, person, unit, manager, recorded_at=minutes(0))
        await inject(system, issued(phone, person, unit))
        await wait_holding(system, token_for, person, phone)

        moved = await transfer(client, person, unit, new, new_manager, date(2027, 3, 1),
                               recorded_at=minutes(1))
        assert moved.json()["outcome"] == "applied", moved.text
        [case] = await wait_cases(system, token_for, person, 1)
        assert (case["device_id"], case["reason"], case["due_date"],
                case["receiver_person_id"]) == (str(phone), "transferred", due, manager), unit
        [event] = await outbox(system, "lifecycle.employee-transferred.v1", person)
        assert event["effective_date"] == "2027-03-01"  # HR's first day in the new unit, as sent

        fixed = await transfer(client, person, unit, new, new_manager, date(2027, 3, 15),
                               recorded_at=minutes(2))
        assert fixed.json()["outcome"] == "applied", fixed.text
        [now] = await cases_of(system, token_for, person)
        assert (now["case_id"], now["due_date"]) == (case["case_id"], corrected_due), unit
        announced = await outbox(system, "lifecycle.return-requested.v1", case["case_id"])
        assert [(a["due_date"], a["receiver_person_id"]) for a in announced] == [
            (due, manager), (corrected_due, manager)], unit


async def test_u7_a_device_issued_after_the_end_was_announced_still_gets_its_case(
        system: RunningSystem, token_for: Any) -> None:
    person, manager = new_id("E"), new_id("M")
    await hire(system.lifecycle, person, "SOC-A", manager, recorded_at=minutes(0))
    await end(system.lifecycle, person, "SOC-A", date(2026, 12, 31), recorded_at=minutes(1))
    assert await cases_of(system, token_for, person) == []
    phone = uuid.uuid4()
    await inject(system, issued(phone, person, "SOC-A"))
    [case] = await wait_cases(system, token_for, person, 1)
    assert (case["device_id"], case["due_date"], case["receiver_person_id"]) == (
        str(phone), "2026-12-31", manager)


async def test_u7_end_and_device_issued_at_the_same_moment_never_both_miss(
        system: RunningSystem, token_for: Any) -> None:
    people = [new_id("E") for _ in range(25)]
    for person in people:
        await hire(system.lifecycle, person, "SOC-A", "M-A", recorded_at=minutes(0))
    await asyncio.gather(*(
        task for person in people for task in (
            end(system.lifecycle, person, "SOC-A", date(2026, 12, 31), recorded_at=minutes(1)),
            inject(system, issued(uuid.uuid4(), person, "SOC-A")))))
    for person in people:
        await wait_cases(system, token_for, person, 1)


async def test_u7_inventory_events_out_of_order(system: RunningSystem, token_for: Any) -> None:
    t = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    person = new_id("E")
    await hire(system.lifecycle, person, "SOC-A", "M-A", recorded_at=minutes(0))
    # Returned (t+2) arrives before the issue it ends (t+1): the device is not held.
    gone = uuid.uuid4()
    await inject(system, returned(gone, person, "SOC-A"), at=t + timedelta(hours=2))
    await inject(system, issued(gone, person, "SOC-A"), at=t + timedelta(hours=1))
    # Issued again (t+5); a return of an earlier issue (t+4) arrives after the end.
    phone = uuid.uuid4()
    await inject(system, issued(phone, person, "SOC-A"), at=t + timedelta(hours=5))
    await wait_holding(system, token_for, person, phone)
    await end(system.lifecycle, person, "SOC-A", date(2026, 12, 31), recorded_at=minutes(1))
    [case] = await wait_cases(system, token_for, person, 1)
    assert case["device_id"] == str(phone)
    await inject(system, returned(phone, person, "SOC-A"), at=t + timedelta(hours=4))
    # One queue, one consumer, in order: once a later marker is applied, so was that return.
    marker, someone = uuid.uuid4(), new_id("E")
    await inject(system, issued(marker, someone, "SOC-A"))
    await wait_holding(system, token_for, someone, marker)
    assert [c["status"] for c in await cases_of(system, token_for, person)] == ["open"]
    await inject(system, returned(phone, person, "SOC-A"), at=t + timedelta(hours=6))
    closed = await wait_cases(system, token_for, person, 1, "completed")
    assert closed[0]["case_id"] == case["case_id"]


async def test_c3_a_device_no_longer_needed_is_handed_in_to_it_service(
        system: RunningSystem, token_for: Any) -> None:
    person, phone = new_id("E"), uuid.uuid4()
    await inject(system, issued(phone, person, "SOC-A"))
    await wait_holding(system, token_for, person, phone)
    me = token_for(person, "employee")
    opened = await system.lifecycle.post("/v1/return-cases", headers=me,
                                         json={"device_id": str(phone), "reason": "not-needed"})
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["receiver"], case["receiver_person_id"], case["reason"]) == (
        "it-service", None, "not-needed")
    assert date.fromisoformat(case["due_date"]) > date(2026, 1, 1)
    again = await system.lifecycle.post("/v1/return-cases", headers=me,
                                        json={"device_id": str(phone), "reason": "not-needed"})
    assert again.status_code == 409 and again.json()["case_id"] == case["case_id"]
    await inject(system, returned(phone, person, "SOC-A"))
    [done] = await wait_cases(system, token_for, person, 1, "completed")
    assert done["case_id"] == case["case_id"]
    not_held = await system.lifecycle.post("/v1/return-cases", headers=token_for(*IT),
                                           json={"device_id": str(phone), "reason": "consumed"})
    assert not_held.status_code == 422 and "C3" in not_held.json()["detail"]


async def test_c2_a_consumed_device_someone_holds_gets_a_hand_in_case(
        system: RunningSystem, token_for: Any) -> None:
    person, phone = new_id("E"), uuid.uuid4()
    await inject(system, issued(phone, person, "SOC-A"))
    await wait_holding(system, token_for, person, phone)
    await inject(system, DeviceConsumed(device_id=phone, model_id="old-phone",
                                        reason="security-updates-ended", holder_person_id=person,
                                        unit_id="SOC-A", decided_on=date(2026, 5, 1)))
    [case] = await wait_cases(system, token_for, person, 1)
    assert (case["reason"], case["receiver"], case["due_date"]) == (
        "consumed", "it-service", "2026-05-15")


async def test_u7_overdue_cases_escalate_once_per_level_to_the_head_above(
        system: RunningSystem, token_for: Any) -> None:
    client = system.lifecycle
    parent, unit = new_id("SOC"), new_id("SOC-HT")
    head, parent_head, manager, person = new_id("H"), new_id("HP"), new_id("M"), new_id("E")
    await register_unit(client, parent, parent_head)
    await register_unit(client, unit, head, parent=parent)
    await hire(client, person, unit, manager, recorded_at=minutes(0))
    await inject(system, issued(uuid.uuid4(), person, unit))
    await end(client, person, unit, date(2020, 1, 10), recorded_at=minutes(1))
    [case] = await wait_cases(system, token_for, person, 1)

    async def run(as_of: str) -> list[dict[str, Any]]:
        response = await client.post("/v1/return-cases/escalations", params={"as_of": as_of},
                                     headers=token_for(*IT))
        assert response.status_code == 200, response.text
        return [e for e in response.json()["escalated"] if e["case_id"] == case["case_id"]]

    first = await run("2020-01-13")
    assert [(e["level"], e["days_overdue"], e["escalated_to"]) for e in first] == [
        (1, 3, head)]
    assert await run("2020-01-13") == []  # repeatable: nothing twice
    assert await run("2020-01-16") == []  # still level 1
    second = await run("2020-01-20")
    assert [(e["level"], e["days_overdue"]) for e in second] == [(2, 10)]
    events = [e for e in await outbox(system, "lifecycle.return-overdue.v1", case["case_id"])
              if e["escalation_level"] <= 2]  # the background sweep may add today's level
    assert [(e["escalation_level"], e["days_overdue"], e["escalated_to"]) for e in events] == [
        (1, 3, head), (2, 10, head)]
    shown = await client.get(f"/v1/return-cases/{case['case_id']}",
                             headers=token_for(manager, "employee"))
    assert [e["level"] for e in shown.json()["escalations"]][:2] == [1, 2]

    future = await client.post("/v1/return-cases/escalations",
                               params={"as_of": "2999-01-01"}, headers=token_for(*IT))
    assert future.status_code == 422 and "future" in future.json()["detail"]


async def test_u7_levels_missed_while_no_sweep_ran_are_audited_as_skipped_not_published(
        system: RunningSystem, token_for: Any) -> None:
    """Rule U7 after a sweep outage: one run at level 3 records levels 1-2 as skipped and
    escalates and publishes level 3 alone (all to the same head: stale reminders help no one);
    a second run adds nothing; a later gap is skipped from the last level recorded."""
    client = system.lifecycle
    unit, head, manager, person = new_id("SOC"), new_id("H"), new_id("M"), new_id("E")
    await register_unit(client, unit, head)
    await hire(client, person, unit, manager, recorded_at=minutes(0))
    await inject(system, issued(uuid.uuid4(), person, unit))
    await end(client, person, unit, date(2020, 1, 10), recorded_at=minutes(1))
    [case] = await wait_cases(system, token_for, person, 1)

    async def run(as_of: str) -> list[tuple[int, int]]:
        response = await client.post("/v1/return-cases/escalations", params={"as_of": as_of},
                                     headers=token_for(*IT))
        assert response.status_code == 200, response.text
        return [(e["level"], e["days_overdue"]) for e in response.json()["escalated"]
                if e["case_id"] == case["case_id"]]

    async def trail(as_of: str) -> list[tuple[str, dict[str, Any]]]:
        async with system.apps["lifecycle"].state.sessions() as session:
            rows = await session.execute(text(
                "SELECT action, after FROM lifecycle.audit_log WHERE object_type = "
                "'return-case' AND object_id = :id AND action LIKE '%escalat%' "
                "AND after->>'as_of' = :as_of ORDER BY id"),
                {"id": case["case_id"], "as_of": as_of})
            return [(r[0], r[1]) for r in rows]

    assert await run("2020-01-25") == [(3, 15)]  # levels 1 and 2 were never swept
    assert await run("2020-01-25") == []  # repeatable: nothing twice
    [(skip, skipped), (escalate, escalated)] = await trail("2020-01-25")
    assert (skip, skipped["first_skipped_level"], skipped["last_skipped_level"],
            skipped["escalated_level"]) == ("return-case.skip-escalation", 1, 2, 3)
    assert (escalate, escalated["level"]) == ("return-case.escalate", 3)

    assert await run("2020-02-15") == [(6, 36)]  # down again: 4 and 5 missed
    assert await run("2020-02-15") == []
    assert [(a, e.get("first_skipped_level"), e.get("last_skipped_level"), e.get("level"))
            for a, e in await trail("2020-02-15")] == [
        ("return-case.skip-escalation", 4, 5, None), ("return-case.escalate", None, None, 6)]
    events = [e for e in await outbox(system, "lifecycle.return-overdue.v1", case["case_id"])
              if e["escalation_level"] <= 6]  # the background sweep may add today's level
    assert [(e["escalation_level"], e["days_overdue"], e["escalated_to"]) for e in events] == [
        (3, 15, head), (6, 36, head)]
    shown = await client.get(f"/v1/return-cases/{case['case_id']}",
                             headers=token_for(manager, "employee"))
    assert [e["level"] for e in shown.json()["escalations"] if e["level"] <= 6] == [3, 6]


async def test_u7_a_case_addressed_to_the_units_head_escalates_to_the_parent_units_head(
        system: RunningSystem, token_for: Any) -> None:
    client = system.lifecycle
    parent, unit = new_id("SOC"), new_id("SOC-HT")
    head, parent_head, person = new_id("H"), new_id("HP"), new_id("E")
    await register_unit(client, parent, parent_head)
    await register_unit(client, unit, head, parent=parent)
    await hire(client, person, unit, None, recorded_at=minutes(0))  # no manager: the head
    phone = uuid.uuid4()
    await inject(system, issued(phone, person, unit))
    await wait_holding(system, token_for, person, phone)
    await end(client, person, unit, date(2020, 2, 1), recorded_at=minutes(1))
    [case] = await eventually(lambda: cases_of(system, token_for, person),
                              lambda cases: len(cases) == 1)
    assert case["receiver_person_id"] == head
    response = await client.post("/v1/return-cases/escalations", params={"as_of": "2020-02-02"},
                                 headers=token_for(*IT))
    mine = [e for e in response.json()["escalated"] if e["case_id"] == case["case_id"]]
    assert [e["escalated_to"] for e in mine] == [parent_head]
