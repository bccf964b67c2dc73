"""Idempotent creation: the portal may retry POST /v1/orders with the same Idempotency-Key and
gets the same order back, never a second one — also when 50 retries race each other."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.orders_world import World
from tests.system import RunningSystem

PHONE = "phone-simple-galaxy-a16"


@pytest.fixture
def world(system_inprocess: RunningSystem, token_for) -> World:  # type: ignore[no-untyped-def]
    return World(system_inprocess, token_for)


async def orders_of(world: World, unit_id: str) -> list[dict[str, object]]:
    page = await world.orders.get("/v1/orders", params={"unit_id": unit_id, "limit": 200},
                                  headers=world.as_("aud-1", "auditor"))
    return page.json()["items"]  # type: ignore[no-any-return]


async def test_a_retry_with_the_same_key_returns_the_same_order(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    key = str(uuid.uuid4())
    first = await world.place(unit, orderer, employee, PHONE, key=key)
    retry = await world.place(unit, orderer, employee, PHONE, key=key)
    assert first.status_code == 201 and retry.status_code == 200
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert retry.json() == first.json()
    assert len(await orders_of(world, unit.unit_id)) == 1
    assert len(await world.outbox("orders.order-submitted.v1", first.json()["order_id"])) == 1


async def test_a_retry_after_the_decision_returns_the_order_as_it_is_now(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    key = str(uuid.uuid4())
    first = await world.place(unit, orderer, employee, PHONE, key=key)
    assert first.json()["approver_person_id"] == unit.head  # rule O3
    assert (await world.approve(first.json(), unit.head)).status_code == 200
    retry = await world.place(unit, orderer, employee, PHONE, key=key)
    assert retry.status_code == 200 and retry.headers["idempotent-replayed"] == "true"
    now = await world.orders.get(f"/v1/orders/{first.json()['order_id']}",
                                 headers=world.as_(orderer, "orderer"))
    assert retry.json() == now.json()
    assert retry.json()["status"] == "approved" and retry.json()["approver_person_id"] is None


async def test_a_key_reused_for_a_different_order_is_a_conflict(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    key = str(uuid.uuid4())
    first = await world.place(unit, orderer, employee, PHONE, key=key)
    other = await world.place(unit, orderer, employee, "phone-robust-xcover7", key=key)
    assert other.status_code == 409
    assert other.json()["order_id"] == first.json()["order_id"]
    assert len(await orders_of(world, unit.unit_id)) == 1


async def test_keys_belong_to_their_caller(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    second = await world.hire(unit)
    await world.appoint(unit, second)
    key = str(uuid.uuid4())
    mine = await world.place(unit, orderer, employee, PHONE, key=key)
    theirs = await world.place(unit, second, employee, PHONE, key=key)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["order_id"] != theirs.json()["order_id"]


async def test_a_refused_request_does_not_use_up_its_key(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    key = str(uuid.uuid4())
    refused = await world.place(unit, orderer, employee, "phone-advanced-galaxy-s25", key=key)
    assert refused.status_code == 422 and refused.json()["rule"] == "O4"
    fixed = await world.place(unit, orderer, employee, "phone-advanced-galaxy-s25", key=key,
                              justification="Platschef vid räddningstjänstens insatser.")
    assert fixed.status_code == 201


async def test_fifty_concurrent_retries_with_one_key_make_one_order(
        system: RunningSystem, token_for) -> None:  # type: ignore[no-untyped-def]
    world = World(system, token_for)
    unit, orderer, employee = await world.staffed_unit()
    key = str(uuid.uuid4())
    responses = await asyncio.gather(*(world.place(unit, orderer, employee, PHONE, key=key)
                                       for _ in range(50)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 49 + [201], [r.text for r in responses if r.status_code >= 300]
    assert len({r.json()["order_id"] for r in responses}) == 1
    orders = await orders_of(world, unit.unit_id)
    assert len(orders) == 1
    assert len(await world.outbox("orders.order-submitted.v1", str(orders[0]["order_id"]))) == 1
