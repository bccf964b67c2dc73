"""Deciding on an order (rules O3, O4): the head of the paying unit approves or rejects, nobody
else; a head never decides on their own order; the orderer may cancel until the decision."""

from __future__ import annotations

import uuid

import pytest

from tests.orders_world import Tap, World
from tests.system import RunningSystem

PHONE, ADVANCED = "phone-standard-galaxy-a56", "phone-advanced-galaxy-s25"
NEED = "Tolkar via videosamtal i fält; behöver kamera och skärm av hög kvalitet."


@pytest.fixture
def world(system_inprocess: RunningSystem, token_for) -> World:  # type: ignore[no-untyped-def]
    return World(system_inprocess, token_for)


async def test_o3_appoint_order_approve_publishes_order_approved_once(
        system: RunningSystem, token_for, broker_url: str) -> None:  # type: ignore[no-untyped-def]
    world = World(system, token_for)
    unit, orderer, employee = await world.staffed_unit()
    order = (await world.place(unit, orderer, employee, PHONE, "sub-mobile-5gb")).json()
    async with Tap(system, broker_url, "orders.order-approved.v1") as tap:
        approved = await world.approve(order, unit.head, comment="Behövs i tjänsten.")
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        assert approved.json()["decided_by"] == unit.head
        assert approved.json()["decision_note"] == "Behövs i tjänsten."
        again = await world.approve(order, unit.head)
        assert again.status_code == 409 and again.json()["order_status"] == "approved"
        rows = await world.outbox("orders.order-approved.v1", order["order_id"])
        assert len(rows) == 1 and rows[0]["sent_at"] is not None
        published = await tap.wait(order["order_id"])
    assert len(published) == 1
    data = published[0]["data"]
    assert data["approved_by"] == unit.head and data["orderer_id"] == orderer
    assert data["cost_centre"] == unit.cost_centre and data["recipient_person_id"] == employee
    # Everything inventory needs to reserve: kinds, tiers, models, scopes, quantities.
    lines = {ln["catalogue_item_id"]: ln for ln in data["lines"]}
    assert lines[PHONE] | {"name": None} == {
        "catalogue_item_id": PHONE, "kind": "phone", "tier": "standard", "quantity": 1,
        "name": None, "model_id": "samsung-galaxy-a56", "accessory_type": None, "scope": None,
        "one_time_price_sek": "4290.00", "monthly_price_sek": "45.00", "added_for_rule": None}
    assert lines["sub-mobile-5gb"]["scope"] == {"calls": True, "sms": True, "mms": True,
                                                "data_gb": 5}
    assert lines["acc-case-samsung-galaxy-a56"]["added_for_rule"] == "U6"


async def test_o3_nobody_but_the_head_of_the_paying_unit_decides(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    other = await world.unit()
    order = (await world.place(unit, orderer, employee, PHONE)).json()
    for person, roles in ((other.head, ("department-head",)), ("it-1", ("it-service",)),
                          ("aud-1", ("auditor",)), (orderer, ("orderer",)),
                          (employee, ("employee",)), ("boss", ("department-head",
                                                               "it-service"))):
        headers = world.as_(person, *roles)
        approve = await world.orders.post(f"/v1/orders/{order['order_id']}/approve",
                                          headers=headers)
        assert approve.status_code == 403, (person, approve.text)
        assert approve.json()["rule"] == "O3"
        reject = await world.orders.post(f"/v1/orders/{order['order_id']}/reject",
                                         json={"reason": "Nej."}, headers=headers)
        assert reject.status_code == 403
    still = await world.orders.get(f"/v1/orders/{order['order_id']}", headers=world.as_(orderer))
    assert still.json()["status"] == "submitted"
    assert not await world.outbox("orders.order-approved.v1", order["order_id"])


async def test_o3_a_head_who_orders_cannot_approve_it_the_parent_units_head_does(
        world: World) -> None:
    """Our choice (docs/orders.md): four eyes. A head may appoint themself and order, but the
    decision on that order goes to the head of the parent unit."""
    parent = await world.unit()
    unit = await world.unit(parent=parent.unit_id)
    employee = await world.hire(unit)
    await world.hire(unit, unit.head)
    assert (await world.appoint(unit, unit.head)).status_code == 201
    order = (await world.place(unit, unit.head, employee, PHONE)).json()
    assert order["approver_person_id"] == parent.head
    own = await world.approve(order, unit.head)
    assert own.status_code == 403 and "You placed this order" in own.json()["detail"]
    seen = await world.orders.get(f"/v1/orders/{order['order_id']}",
                                  headers=world.as_(parent.head))
    assert seen.status_code == 200  # the decider sees what they decide on
    approved = await world.approve(order, parent.head)
    assert approved.status_code == 200 and approved.json()["decided_by"] == parent.head
    after = await world.orders.get(f"/v1/orders/{order['order_id']}",
                                   headers=world.as_(parent.head))
    assert after.status_code == 200, after.text  # and what they decided, as in their listing
    listed = await world.orders.get("/v1/orders", headers=world.as_(parent.head))
    assert order["order_id"] in [o["order_id"] for o in listed.json()["items"]]


async def test_o3_a_head_without_a_parent_head_waits_for_the_organisation(world: World) -> None:
    unit = await world.unit()
    await world.hire(unit, unit.head)
    await world.appoint(unit, unit.head)
    order = (await world.place(unit, unit.head, None, "tablet-galaxy-tab-a9-plus")).json()
    assert order["approver_person_id"] is None
    refused = await world.approve(order, unit.head)
    assert refused.status_code == 403


async def test_o3_a_new_head_decides_what_the_old_head_left_pending(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    order = (await world.place(unit, orderer, employee, PHONE)).json()
    old_head = unit.head
    await world.change_head(unit, "head-new-" + order["order_id"][:6])
    assert (await world.approve(order, old_head)).status_code == 403
    assert (await world.approve(order, unit.head)).status_code == 200


async def test_o4_approving_an_advanced_phone_explicitly_approves_the_need(world: World
                                                                          ) -> None:
    unit, orderer, employee = await world.staffed_unit()
    order = (await world.place(unit, orderer, employee, ADVANCED, justification=NEED)).json()
    plain = await world.approve(order, unit.head)
    assert plain.status_code == 422 and plain.json()["rule"] == "O4"
    assert NEED in plain.json()["detail"]
    approved = await world.approve(order, unit.head, approve_need=True)
    assert approved.status_code == 200 and approved.json()["need_approved"] is True
    event = (await world.outbox("orders.order-approved.v1", order["order_id"]))[0]
    assert event["envelope"]["data"]["need_approved"] is True
    assert event["envelope"]["data"]["justification"] == NEED


async def test_o3_head_rejects_with_a_reason(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    order = (await world.place(unit, orderer, employee, PHONE)).json()
    path = f"/v1/orders/{order['order_id']}/reject"
    head = world.as_(unit.head, "department-head")
    assert (await world.orders.post(path, json={}, headers=head)).status_code == 422
    rejected = await world.orders.post(path, json={"reason": "En enklare telefon räcker."},
                                       headers=head)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert (await world.approve(order, unit.head)).status_code == 409
    event = (await world.outbox("orders.order-rejected.v1", order["order_id"]))[0]
    assert event["envelope"]["data"]["reason"] == "En enklare telefon räcker."


async def test_orderer_cancels_before_the_decision_and_only_then(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    first = (await world.place(unit, orderer, employee, PHONE)).json()
    path = f"/v1/orders/{first['order_id']}/cancel"
    assert (await world.orders.post(path, headers=world.as_(unit.head))).status_code == 403
    cancelled = await world.orders.post(path, json={"reason": "Fel person."},
                                        headers=world.as_(orderer))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await world.approve(first, unit.head)).status_code == 409
    assert len(await world.outbox("orders.order-cancelled.v1", first["order_id"])) == 1
    second = (await world.place(unit, orderer, employee, PHONE)).json()
    await world.approve(second, unit.head)
    late = await world.orders.post(f"/v1/orders/{second['order_id']}/cancel",
                                   headers=world.as_(orderer))
    assert late.status_code == 409 and "approved" in late.json()["detail"]


async def test_every_decision_is_in_the_audit_trail(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    order = (await world.place(unit, orderer, employee, PHONE)).json()
    await world.approve(order, unit.head)
    rows = await world.sql(
        "SELECT string_agg(actor || ':' || action, ',' ORDER BY id) FROM orders.audit_log "
        "WHERE object_type = 'order' AND object_id = :o", o=order["order_id"])
    assert rows == f"{orderer}:order.submit,{unit.head}:order.approve"


async def test_u5_an_order_is_fulfilled_only_once_every_subscription_it_brings_is_active(
        world: World) -> None:
    """Two SIMs for the phone the recipient holds, and a phone with a SIM of its own: the first
    hand-over of each order is not all of it."""
    unit, orderer, employee = await world.staffed_unit()
    await world.issue(holder=employee, unit=unit)  # a phone the recipient holds already (U5)
    sims = (await world.place(unit, orderer, employee, ("sub-mobile-20gb", 2))).json()
    phone = (await world.place(unit, orderer, employee, PHONE, "sub-mobile-5gb")).json()
    for order in (sims, phone):
        assert (await world.approve(order, unit.head)).status_code == 200
    first, second = uuid.uuid4(), uuid.uuid4()
    sims_id = uuid.UUID(sims["order_id"])
    await world.issue(holder=employee, unit=unit, order_id=sims_id, kind="sim",
                      subscription_ids=(first,))
    await world.issue(holder=employee, unit=unit, order_id=sims_id, kind="sim",
                      subscription_ids=(first,))  # the same subscription reported again
    assert await status(world, sims, orderer) == "approved"
    await world.issue(holder=employee, unit=unit, order_id=sims_id, kind="sim",
                      subscription_ids=(second,))
    assert await status(world, sims, orderer) == "fulfilled"
    # The phone came before a SIM was free for it: the order waits for its subscription.
    phone_id = uuid.UUID(phone["order_id"])
    await world.issue(holder=employee, unit=unit, order_id=phone_id)
    assert await status(world, phone, orderer) == "approved"
    await world.issue(holder=employee, unit=unit, order_id=phone_id, kind="sim",
                      subscription_ids=(uuid.uuid4(),))
    assert await status(world, phone, orderer) == "fulfilled"
    (event,) = await world.outbox("orders.order-fulfilled.v1", sims["order_id"])
    activated = event["envelope"]["data"]["subscription_ids"]
    assert sorted(activated) == sorted([str(first), str(second)])


async def test_an_order_of_accessories_alone_is_fulfilled_when_approved(world: World) -> None:
    """Inventory keeps no register of accessories and reports none issued (docs/inventory.md):
    approving such an order is its last step, or it would stay approved for ever."""
    unit, orderer, employee = await world.staffed_unit()
    order = (await world.place(unit, orderer, employee, "acc-charger-usb-c-25w",
                               "acc-car-holder")).json()
    approved = await world.approve(order, unit.head)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "fulfilled" and approved.json()["fulfilled_at"]
    assert await status(world, order, orderer) == "fulfilled"
    assert len(await world.outbox("orders.order-approved.v1", order["order_id"])) == 1
    (event,) = await world.outbox("orders.order-fulfilled.v1", order["order_id"])
    assert event["envelope"]["data"]["device_ids"] == []


async def status(world: World, order: dict[str, object], person: str) -> str:
    response = await world.orders.get(f"/v1/orders/{order['order_id']}",
                                      headers=world.as_(person))
    return str(response.json()["status"])
