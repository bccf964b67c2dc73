"""Authorised orderers (rule O2): the head of a unit appoints and revokes them, and the right
moves with the head when lifecycle reports a new one."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from shared.events.catalogue import EmployeeTransferred, EmploymentEnded
from tests.orders_world import World, now, uid
from tests.system import RunningSystem

TABLET = "tablet-galaxy-tab-a9-plus"


@pytest.fixture
def world(system_inprocess: RunningSystem, token_for) -> World:  # type: ignore[no-untyped-def]
    return World(system_inprocess, token_for)


async def test_o2_head_appoints_and_revokes_and_each_is_an_event(world: World) -> None:
    unit = await world.unit()
    person = await world.hire(unit)
    appointed = await world.appoint(unit, person)
    assert appointed.status_code == 201, appointed.text
    assert appointed.json() | {"appointed_at": None} == {
        "unit_id": unit.unit_id, "person_id": person, "active": True, "appointed_by": unit.head,
        "appointed_at": None, "revoked_by": None, "revoked_at": None}
    again = await world.appoint(unit, person)
    assert again.status_code == 200  # idempotent: no second appointment, no second event
    head = world.as_(unit.head, "department-head")
    listed = await world.orders.get(f"/v1/units/{unit.unit_id}/orderers", headers=head)
    assert [o["person_id"] for o in listed.json()] == [person]
    revoked = await world.orders.delete(f"/v1/units/{unit.unit_id}/orderers/{person}",
                                        headers=head)
    assert revoked.status_code == 200
    assert revoked.json()["active"] is False and revoked.json()["revoked_by"] == unit.head
    assert (await world.orders.delete(f"/v1/units/{unit.unit_id}/orderers/{person}",
                                      headers=head)).status_code == 404
    assert (await world.orders.get(f"/v1/units/{unit.unit_id}/orderers", headers=head)
            ).json() == []
    events = [e["envelope"]["data"] for e in await world.outbox(
        "orders.orderer-appointed.v1", unit.unit_id)]
    assert events == [{"unit_id": unit.unit_id, "person_id": person,
                       "appointed_by": unit.head}]
    assert len(await world.outbox("orders.orderer-revoked.v1", unit.unit_id)) == 1
    audit = await world.sql(
        "SELECT string_agg(action, ',' ORDER BY id) FROM orders.audit_log "
        "WHERE object_type = 'orderer' AND object_id = :o", o=f"{unit.unit_id}/{person}")
    assert audit == "orderer.appoint,orderer.revoke"


async def test_o2_only_the_units_head_appoints_or_revokes(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    other = await world.unit()
    for headers in (world.as_(other.head, "department-head"), world.as_("it-1", "it-service"),
                    world.as_(orderer, "orderer"), world.as_(employee, "employee"),
                    world.as_("aud-1", "auditor")):
        put = await world.orders.put(f"/v1/units/{unit.unit_id}/orderers/{employee}",
                                     headers=headers)
        assert put.status_code == 403, put.text
        assert put.json()["rule"] == "O2"
        delete = await world.orders.delete(f"/v1/units/{unit.unit_id}/orderers/{orderer}",
                                           headers=headers)
        assert delete.status_code == 403
    listed = await world.orders.get(f"/v1/units/{unit.unit_id}/orderers",
                                    headers=world.as_(unit.head))
    assert [o["person_id"] for o in listed.json()] == [orderer]  # nothing changed


async def test_o2_head_change_moves_the_right_with_it(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    old_head, new_head = unit.head, uid("head")
    await world.change_head(unit, new_head)  # lifecycle's unit-changed
    refused = await world.orders.put(f"/v1/units/{unit.unit_id}/orderers/{employee}",
                                     headers=world.as_(old_head, "department-head"))
    assert refused.status_code == 403
    appointed = await world.appoint(unit, employee)
    assert appointed.status_code == 201 and appointed.json()["appointed_by"] == new_head
    # The new head inherits the appointments the old one made and may revoke them.
    revoked = await world.orders.delete(f"/v1/units/{unit.unit_id}/orderers/{orderer}",
                                        headers=world.as_(new_head, "department-head"))
    assert revoked.status_code == 200


async def test_o2_revoked_orderer_can_no_longer_order(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    assert (await world.place(unit, orderer, employee, "tablet-galaxy-tab-a9-plus")
            ).status_code == 201
    await world.orders.delete(f"/v1/units/{unit.unit_id}/orderers/{orderer}",
                              headers=world.as_(unit.head, "department-head"))
    refused = await world.place(unit, orderer, employee, "tablet-galaxy-tab-a9-plus")
    assert refused.status_code == 403 and refused.json()["rule"] == "O2"


async def test_o2_an_appointment_lapses_when_its_holder_leaves_the_unit_or_the_municipality(
        world: World) -> None:
    """A head appoints orderers for their unit: moving away from it ends the appointment
    (one for a unit the person does not work in stays), and so does an announced end of
    employment — each an orderer-revoked by "hr", audited. An appointment made after HR
    reported the change (a late event) stands."""
    unit, orderer, employee = await world.staffed_unit()
    other = await world.unit()
    # orders for `other` too, a unit they do not work in (central ordering)
    assert (await world.appoint(other, orderer)).status_code == 201
    assert (await world.place(unit, orderer, employee, TABLET)).status_code == 201
    new_unit = await world.unit()
    await world.inject(EmployeeTransferred(
        person_id=orderer, from_unit_id=unit.unit_id, to_unit_id=new_unit.unit_id,
        effective_date=date(2026, 6, 1)), subject=orderer)
    refused = await world.place(unit, orderer, employee, TABLET)
    assert refused.status_code == 403 and refused.json()["rule"] == "O2"
    revoked = await world.outbox("orders.orderer-revoked.v1", unit.unit_id)
    assert [r["envelope"]["data"] for r in revoked] == [
        {"unit_id": unit.unit_id, "person_id": orderer, "revoked_by": "hr"}]
    assert await world.outbox("orders.orderer-revoked.v1", other.unit_id) == []

    late = now() - timedelta(days=1)  # HR's end, reported before the head appoints again
    assert (await world.appoint(new_unit, orderer)).status_code == 201
    await world.inject(EmploymentEnded(person_id=orderer, unit_id=new_unit.unit_id,
                                       last_day=date(2026, 12, 31)), subject=orderer, at=late)
    assert await world.outbox("orders.orderer-revoked.v1", new_unit.unit_id) == []
    await world.inject(EmploymentEnded(person_id=orderer, unit_id=new_unit.unit_id,
                                       last_day=date(2026, 12, 31)), subject=orderer)
    revoked = await world.outbox("orders.orderer-revoked.v1", other.unit_id)
    assert [r["envelope"]["data"]["revoked_by"] for r in revoked] == ["hr"]
    (lapsed,) = await world.outbox("orders.orderer-revoked.v1", new_unit.unit_id)
    assert lapsed["envelope"]["data"]["person_id"] == orderer


async def test_o2_an_orderer_must_be_a_known_employee(world: World) -> None:
    unit = await world.unit()
    refused = await world.appoint(unit, "p-nobody-knows")
    assert refused.status_code == 422
    assert "not known as an employee" in refused.json()["detail"]
    unknown_unit = await world.orders.put("/v1/units/NO-SUCH-UNIT/orderers/p-1",
                                          headers=world.as_("head-x", "department-head"))
    assert unknown_unit.status_code == 404


async def test_o2_orderers_are_listed_for_the_head_it_service_and_auditors_only(
        world: World) -> None:
    unit, orderer, _ = await world.staffed_unit()
    path = f"/v1/units/{unit.unit_id}/orderers"
    for headers in (world.as_(unit.head), world.as_("it-1", "it-service"),
                    world.as_("aud-1", "auditor")):
        assert (await world.orders.get(path, headers=headers)).status_code == 200
    for headers in (world.as_(orderer, "orderer"), world.as_("head-x", "department-head")):
        assert (await world.orders.get(path, headers=headers)).status_code == 403


async def test_me_tells_the_portal_what_the_caller_may_do(world: World) -> None:
    parent = await world.unit()
    unit, orderer, _ = await world.staffed_unit(parent=parent.unit_id)
    mine = await world.orders.get("/v1/me", headers=world.as_(orderer, "orderer"))
    assert mine.json()["orders_for"] == [unit.unit_id] and mine.json()["heads"] == []
    head = await world.orders.get("/v1/me", headers=world.as_(unit.head))
    assert head.json()["heads"] == [unit.unit_id]
    above = await world.orders.get("/v1/me", headers=world.as_(parent.head))
    assert above.json()["heads"] == [parent.unit_id]
    assert above.json()["decides_for"] == [unit.unit_id]
