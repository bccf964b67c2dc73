"""The ordering flow end to end, on the in-process transport and on RabbitMQ: lifecycle's unit
and HR events, an appointed orderer's order, the head's approval, inventory's device-issued
events, and order-fulfilled — each published once."""

from __future__ import annotations

import uuid

from tests.orders_world import Tap, World
from tests.system import RunningSystem, eventually


async def order_status(world: World, order_id: str, person: str) -> str:
    response = await world.orders.get(f"/v1/orders/{order_id}", headers=world.as_(person))
    return str(response.json()["status"])


async def test_o3_order_is_fulfilled_when_inventory_issued_its_devices(
        system: RunningSystem, token_for, broker_url: str) -> None:  # type: ignore[no-untyped-def]
    world = World(system, token_for)
    unit, orderer, employee = await world.staffed_unit()
    order = (await world.place(unit, orderer, employee, "phone-standard-iphone-16e",
                               "sub-mobile-20gb", key=str(uuid.uuid4()))).json()
    order_id = order["order_id"]
    assert (await world.approve(order, unit.head)).status_code == 200
    async with Tap(system, broker_url, "orders.order-fulfilled.v1") as tap:
        # Inventory hands over the SIM first (not a phone or tablet), then the phone.
        sim = await world.issue(holder=employee, unit=unit, order_id=uuid.UUID(order_id),
                                kind="sim")
        assert await order_status(world, order_id, orderer) == "approved"
        phone = await world.issue(holder=employee, unit=unit, order_id=uuid.UUID(order_id))
        assert await order_status(world, order_id, orderer) == "fulfilled"
        # The same fact again under a new event id (a redelivery from another relay).
        await world.issue(holder=employee, unit=unit, order_id=uuid.UUID(order_id),
                          device_id=phone)
        published = await tap.wait(order_id)
        rows = await world.outbox("orders.order-fulfilled.v1", order_id)
    assert len(rows) == 1 and len(published) == 1
    assert set(published[0]["data"]["device_ids"]) == {str(sim), str(phone)}
    final = (await world.orders.get(f"/v1/orders/{order_id}", headers=world.as_(orderer))).json()
    assert final["fulfilled_at"] is not None
    # The phone inventory issued now counts as held: a second SIM needs no new device (U5).
    assert (await world.place(unit, orderer, employee, "sub-voice-sms")).status_code == 201


async def test_shared_order_waits_for_every_device(system: RunningSystem, token_for
                                                   ) -> None:  # type: ignore[no-untyped-def]
    world = World(system, token_for)
    unit, orderer, _ = await world.staffed_unit()
    order = (await world.place(unit, orderer, None, ("tablet-ipad-11-a16", 2))).json()
    await world.approve(order, unit.head)
    order_id = uuid.UUID(order["order_id"])
    await world.issue(holder=None, unit=unit, order_id=order_id, kind="tablet")
    await world.issue(holder=None, unit=unit, order_id=order_id, kind="accessory")
    assert await order_status(world, str(order_id), orderer) == "approved"
    await world.issue(holder=None, unit=unit, order_id=order_id, kind=None)  # kind unknown
    status = await eventually(lambda: order_status(world, str(order_id), orderer),
                              lambda s: s == "fulfilled")
    assert status == "fulfilled"


async def test_devices_issued_for_an_undecided_order_do_not_fulfil_it(
        system: RunningSystem, token_for) -> None:  # type: ignore[no-untyped-def]
    world = World(system, token_for)
    unit, orderer, employee = await world.staffed_unit()
    order = (await world.place(unit, orderer, employee, "phone-robust-xcover7")).json()
    cancelled = await world.orders.post(f"/v1/orders/{order['order_id']}/cancel",
                                        headers=world.as_(orderer))
    assert cancelled.status_code == 200
    await world.issue(holder=employee, unit=unit, order_id=uuid.UUID(order["order_id"]))
    assert await order_status(world, order["order_id"], orderer) == "cancelled"
    assert await world.outbox("orders.order-fulfilled.v1", order["order_id"]) == []
