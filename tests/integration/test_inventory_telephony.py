"""Fixed telephony (rules B4, U1, U2, U3) through HTTP and events: the platform's reports (pushed
with telephony credentials, or pulled from the simulator behind the port), the people read model
from HR's events, each person's checklist and a manager's view of their staff."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.inventory import ports
from shared.events.base import encode, wrap
from shared.events.catalogue import EmployeeHired, EmployeeTransferred, EmploymentEnded
from tests.integration.test_inventory_duties_helpers import hired, suffix, unit
from tests.integration.test_inventory_helpers import processed, publish
from tests.system import RunningSystem

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _extension(extension_id: str, person: str | None, **state: Any) -> dict[str, Any]:
    return {"extension_id": extension_id, "number": f"0370-{abs(hash(extension_id)) % 1000000}",
            "kind": "fixed", "person_id": person, "presence": "available", **state}


async def _report(system: RunningSystem, token_for: Any, *extensions: dict[str, Any],
                  report_id: str | None = None, observed_at: datetime = NOW) -> Any:
    return await system.inventory.post(
        "/v1/telephony/reports", headers=token_for("telia-touchpoint", "telephony"),
        json={"report_id": report_id or f"r-{suffix()}", "observed_at": observed_at.isoformat(),
              "extensions": list(extensions)})


async def _mine(system: RunningSystem, token_for: Any, person: str) -> dict[str, Any]:
    response = await system.inventory.get("/v1/telephony/readiness/me",
                                          headers=token_for(person, "employee"))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _missing(readiness: dict[str, Any]) -> set[tuple[str, str | None]]:
    return {(i["item"], i["extension_id"]) for i in readiness["items"]
            if i["status"] == "missing"}


async def test_b4_u2_u3_fixed_and_mobile_extensions_make_the_checklist(
        system: RunningSystem, token_for: Any) -> None:
    person, s = f"p-{suffix()}", suffix()
    fixed, mobile = f"fx-{s}", f"mb-{s}"
    assert _missing(await _mine(system, token_for, person)) == {("extension", None)}  # B4
    response = await _report(
        system, token_for,
        _extension(fixed, person, presence="away", voicemail_set_up=True),
        _extension(mobile, person, kind="mobile", presence="available", voicemail_set_up=True,
                   personal_greeting=True))
    assert response.status_code == 201, response.text
    assert response.json()["applied"] == 2
    readiness = await _mine(system, token_for, person)
    assert readiness["ready"] is False
    # U2: away and not forwarded; U3: voicemail without a personal greeting.
    assert _missing(readiness) == {("forwarding", fixed), ("greeting", fixed)}
    assert {i["rule"] for i in readiness["items"] if i["status"] == "missing"} == {"U2", "U3"}
    fixed_up = await _report(system, token_for, _extension(
        fixed, person, presence="away", forwarding_active=True, forwarding_target="växeln",
        voicemail_set_up=True, personal_greeting=True), observed_at=NOW + timedelta(minutes=5))
    assert fixed_up.json()["applied"] == 1
    readiness = await _mine(system, token_for, person)
    assert readiness["ready"] is True and readiness["missing"] == 0
    listed = await system.inventory.get("/v1/telephony/extensions", params={"person_id": person},
                                        headers=token_for("it-1", "it-service"))
    assert {(e["extension_id"], e["kind"]) for e in listed.json()} == {(fixed, "fixed"),
                                                                       (mobile, "mobile")}


async def test_b4_a_report_again_or_older_news_changes_nothing(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, person, extension = system_inprocess, f"p-{suffix()}", f"fx-{suffix()}"
    ready = _extension(extension, person, voicemail_set_up=True, personal_greeting=True)
    first = await _report(system, token_for, ready, report_id=f"rep-{extension}")
    assert first.status_code == 201
    again = await _report(system, token_for, ready, report_id=f"rep-{extension}")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    # A report observed earlier, delivered late, does not overwrite the newer state.
    late = await _report(system, token_for, _extension(extension, person, presence="away"),
                         observed_at=NOW - timedelta(hours=1))
    assert late.status_code == 201 and late.json()["applied"] == 0
    assert (await _mine(system, token_for, person))["ready"] is True
    removed = await _report(system, token_for, {**ready, "removed": True},
                            observed_at=NOW + timedelta(hours=1))
    assert removed.json()["applied"] == 1
    assert _missing(await _mine(system, token_for, person)) == {("extension", None)}
    duplicate_ids = await _report(system, token_for, ready, ready)
    assert duplicate_ids.status_code == 422


async def test_u1_a_manager_sees_their_staffs_readiness_and_what_is_missing(
        system: RunningSystem, token_for: Any) -> None:
    s = suffix()
    unit_a, unit_b, manager, head_b = f"TA-{s}", f"TB-{s}", f"m-{s}", f"hb-{s}"
    ready, gaps, no_manager, leaver = (f"{n}-{s}" for n in ("ready", "gaps", "nom", "leaver"))
    await unit(system, unit_a, None, "41230")
    await unit(system, unit_b, head_b, "41231")
    for person in (ready, gaps, leaver):
        await hired(system, person, unit_a, manager)
    await hired(system, no_manager, unit_b, None)  # HR named no manager: the head stands in
    await _report(system, token_for,
                  _extension(f"x-{ready}", ready, voicemail_set_up=True, personal_greeting=True),
                  _extension(f"x-{gaps}", gaps, presence="off-duty"),
                  _extension(f"x-{no_manager}", no_manager, presence="busy",
                             forwarding_active=True, forwarding_target="kollega",
                             voicemail_set_up=True, personal_greeting=True))
    ended = await publish(system, EmploymentEnded(
        person_id=leaver, unit_id=unit_a, last_day=(NOW - timedelta(days=400)).date()),
        subject=leaver)
    await processed(system, ended.id)

    staff = await system.inventory.get("/v1/telephony/readiness/staff",
                                       headers=token_for(manager, "employee"))
    assert staff.status_code == 200, staff.text
    people = {p["person_id"]: p for p in staff.json()["people"]}
    assert set(people) == {ready, gaps}, "the leaver is no longer staff"
    assert (staff.json()["ready"], staff.json()["not_ready"]) == (1, 1)
    assert {i["item"] for i in people[gaps]["items"] if i["status"] == "missing"} == {
        "forwarding", "voicemail", "greeting"}
    heads = await system.inventory.get("/v1/telephony/readiness/staff",
                                       headers=token_for(head_b, "department-head"))
    assert [p["person_id"] for p in heads.json()["people"]] == [no_manager]
    assert heads.json()["people"][0]["ready"] is True

    # The manager reads one person's checklist; after a transfer to B the new manager does.
    one = await system.inventory.get(f"/v1/telephony/readiness/people/{gaps}",
                                     headers=token_for(manager, "employee"))
    assert one.status_code == 200 and one.json()["manager_id"] == manager
    moved = await publish(system, EmployeeTransferred(
        person_id=gaps, from_unit_id=unit_a, to_unit_id=unit_b, nearest_manager_id=None,
        effective_date=NOW.date()), subject=gaps)
    await processed(system, moved.id)
    before = await system.inventory.get(f"/v1/telephony/readiness/people/{gaps}",
                                        headers=token_for(manager, "employee"))
    assert before.status_code == 403
    after = await system.inventory.get(f"/v1/telephony/readiness/people/{gaps}",
                                       headers=token_for(head_b, "department-head"))
    assert after.status_code == 200 and after.json()["unit_id"] == unit_b


async def test_u1_people_events_out_of_order_keep_the_newest(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, s = system_inprocess, suffix()
    person, old_manager, new_manager = f"p-{s}", f"mo-{s}", f"mn-{s}"
    transport = system.apps["orders"].state.runtime.transport
    newer = wrap(EmployeeTransferred(person_id=person, from_unit_id="A", to_unit_id="B",
                                     nearest_manager_id=new_manager,
                                     effective_date=NOW.date()), subject=person)
    older = wrap(EmployeeHired(person_id=person, unit_id="A", nearest_manager_id=old_manager,
                               start_date=NOW.date()), subject=person)
    older = older.model_copy(update={"time": newer.time - timedelta(days=1)})
    for envelope in (newer, older):  # the transfer overtakes the hiring
        await transport.publish(envelope.routing_key, encode(envelope), message_id=envelope.id,
                                headers={})
    await processed(system, newer.id, older.id)
    readiness = await system.inventory.get(f"/v1/telephony/readiness/people/{person}",
                                           headers=token_for(new_manager, "employee"))
    assert readiness.status_code == 200 and readiness.json()["unit_id"] == "B"


@pytest.fixture
def platform() -> Iterator[ports.TelephonySimulator]:
    simulator = ports.telephony()
    assert isinstance(simulator, ports.TelephonySimulator)
    yield simulator
    simulator.available = True


async def test_b4_the_platform_behind_the_port_is_pulled_honestly(
        system_inprocess: RunningSystem, token_for: Any, platform: ports.TelephonySimulator
) -> None:
    system, it, person = system_inprocess, token_for("it-1", "it-service"), f"p-{suffix()}"
    extension = f"sim-{suffix()}"
    platform.provision(extension, "0370-377500", "fixed", person)
    with pytest.raises(ports.NotManaged):
        platform.change("no-such-extension", presence="away")
    platform.change(extension, voicemail_set_up=True, personal_greeting=True)
    pulled = await system.inventory.post("/v1/telephony/sync", headers=it)
    assert pulled.status_code == 200, pulled.text
    assert (await _mine(system, token_for, person))["ready"] is True
    platform.change(extension, presence="away")
    platform.available = False
    outage = await system.inventory.post("/v1/telephony/sync", headers=it)
    assert outage.status_code == 503 and "nothing was changed" in outage.json()["detail"]
    assert (await _mine(system, token_for, person))["ready"] is True
    platform.available = True
    await system.inventory.post("/v1/telephony/sync", headers=it)
    assert _missing(await _mine(system, token_for, person)) == {("forwarding", extension)}
    unchanged = await system.inventory.post("/v1/telephony/sync", headers=it)
    assert unchanged.json()["applied"] == 0  # nothing new on the platform: nothing changes
