"""Inventory with the other two services for real, on both transports: a unit registered in
lifecycle, an order placed and approved in orders, fulfilled and issued by inventory, seen by the
unit's head, reported lost in lifecycle — every hop an event through the system's transport."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.test_inventory_helpers import (
    acknowledgement,
    device,
    fulfilment,
    imei,
    mdm,
    operator,
    outbox,
    serial,
    stock_until,
    until_state,
)
from tests.orders_world import World
from tests.system import RunningSystem, eventually

PHONE_ITEM, PLAN_ITEM = "phone-robust-xcover7", "sub-mobile-5gb"


async def _model_of(system: RunningSystem, it: dict[str, str], token_for: Any) -> str:
    """Inventory's model for the catalogue's phone (registered once per database)."""
    item = (await system.orders.get(f"/v1/catalogue/{PHONE_ITEM}",
                                    headers=token_for("o", "orderer"))).json()
    created = await system.inventory.post("/v1/models", headers=it, json={
        "model_id": item["model_id"], "manufacturer": "Samsung", "model": "Galaxy XCover7",
        "kind": "phone", "tier": "robust", "platform": "android",
        "security_updates_end": "2031-12-31", "max_os_version": "18",
        "catalogue_item_id": PHONE_ITEM})
    assert created.status_code in (201, 409), created.text
    return str(item["model_id"])


async def test_o3_u9_order_to_issue_to_loss_across_the_three_services(
        system: RunningSystem, token_for: Any) -> None:
    it = token_for("it-1", "it-service")
    world = World(system, token_for)
    unit, orderer, employee = await world.staffed_unit()
    model_id = await _model_of(system, it, token_for)

    placed = await world.place(unit, orderer, employee, PHONE_ITEM, PLAN_ITEM,
                               key=str(uuid.uuid4()))
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (await world.approve(order, unit.head)).status_code == 200
    order_id = uuid.UUID(order["order_id"])
    arrived = await eventually(lambda: fulfilment(system, it, order_id),
                               lambda r: r.status_code == 200)
    phone_line = next(li for li in arrived.json()["lines"] if li["kind"] == "phone")
    assert phone_line["state"] == "waiting"  # nothing of this model in stock yet

    # The supplier delivers the phone bought for this order; the SIMs come from stock.
    delivered = await system.inventory.post("/v1/devices", headers=it, json={
        "model_id": model_id, "serial_number": serial(), "imei": imei(),
        "order_id": str(order_id)})
    assert delivered.status_code == 201, delivered.text
    device_id = delivered.json()["device_id"]
    await stock_until(system, it, order_id, _states(order, "reserved"))
    assert (await device(system, it, device_id))["state"] == "reserved"

    issued = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
        "holder_person_id": employee, "acknowledgement": acknowledgement(employee)})
    assert issued.status_code == 200, issued.text
    assert issued.json()["device"]["unit_id"] == unit.unit_id
    (subscription,) = issued.json()["subscriptions"]
    assert subscription["data_gb"] == 5  # the plan's scope, as ordered

    # orders learns from device-issued that its order is fulfilled.
    status = await eventually(
        lambda: world.orders.get(f"/v1/orders/{order_id}", headers=world.as_(orderer)),
        lambda r: r.json()["status"] == "fulfilled")
    assert status.json()["status"] == "fulfilled", status.json()
    # The unit's head (known to inventory from lifecycle's unit-registered) sees the device.
    seen = await eventually(
        lambda: system.inventory.get(f"/v1/devices/{device_id}",
                                     headers=token_for(unit.head, "department-head")),
        lambda r: r.status_code == 200)
    assert seen.status_code == 200, seen.text

    # The holder reports it lost in lifecycle; inventory bars the SIM and locks the phone.
    reported = await eventually(
        lambda: system.lifecycle.post("/v1/losses", headers=token_for(employee, "employee"),
                                      json={"device_id": device_id,
                                            "circumstances": "Left on the bus"}),
        lambda r: r.status_code == 201)
    assert reported.status_code == 201, reported.text
    lost = await until_state(system, it, device_id, "lost")
    assert lost["loss_id"] == reported.json()["loss_id"]
    (activated,) = await outbox(system, "inventory.subscription-activated.v1",
                                subscription["subscription_id"])
    assert operator().sims[activated["data"]["sim_iccid"]] == "blocked"
    assert mdm().devices[lost["mdm_enrolment_id"]].lost_mode


def _states(order: dict[str, Any], tracked: str) -> list[str]:
    """The fulfilment lines of the order as placed: the U6 protector and case are accessories,
    which the register does not track."""
    return [tracked if line["kind"] in ("phone", "tablet", "subscription", "sim")
            else "not-tracked" for line in order["lines"]]
