"""Listing orders: filters, cursor pagination, and object-level visibility — each caller sees
the orders of units they order for or head (and their own), IT service and auditors see all."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import uuid
import warnings
from collections.abc import Awaitable
from typing import Any

import pytest

from services.orders.schemas import OrderOut, OrderPage
from tests.orders_world import World
from tests.system import RunningSystem

PHONE, TABLET = "phone-simple-galaxy-a16", "tablet-galaxy-tab-a9-plus"


@pytest.fixture
def world(system_inprocess: RunningSystem, token_for) -> World:  # type: ignore[no-untyped-def]
    return World(system_inprocess, token_for)


async def ids(world: World, headers: dict[str, str], **params: str) -> list[str]:
    response = await world.orders.get("/v1/orders", params={**params, "limit": 200},
                                      headers=headers)
    assert response.status_code == 200, response.text
    return [o["order_id"] for o in response.json()["items"]]


async def test_pages_follow_the_cursor_newest_first_without_gaps_or_repeats(world: World
                                                                           ) -> None:
    unit, orderer, employee = await world.staffed_unit()
    placed = [(await world.place(unit, orderer, employee, TABLET)).json()["order_id"]
              for _ in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"unit_id": unit.unit_id, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await world.orders.get("/v1/orders", params=params,
                                       headers=world.as_(orderer))).json()
        seen += [o["order_id"] for o in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == list(reversed(placed))


async def test_filters_by_status_person_and_unit(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    colleague = await world.hire(unit)
    a = (await world.place(unit, orderer, employee, TABLET)).json()
    b = (await world.place(unit, orderer, colleague, TABLET)).json()
    await world.approve(b, unit.head)
    it = world.as_("it-1", "it-service")
    assert await ids(world, it, unit_id=unit.unit_id, status="approved") == [b["order_id"]]
    assert await ids(world, it, unit_id=unit.unit_id, status="submitted") == [a["order_id"]]
    assert await ids(world, it, person_id=employee) == [a["order_id"]]
    assert await ids(world, it, orderer_id=orderer) == [b["order_id"], a["order_id"]]
    bad = await world.orders.get("/v1/orders", params={"status": "lost"}, headers=it)
    assert bad.status_code == 422
    crafted = [base64.urlsafe_b64encode(f"{created}|{uuid.uuid4()}".encode()).decode()
               for created in ("0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00")]
    for cursor in ["not-a-cursor", *crafted]:
        refused = await world.orders.get("/v1/orders", params={"cursor": cursor}, headers=it)
        assert refused.status_code == 422, (cursor, refused.text)
        assert "cursor" in refused.json()["detail"]
    for filters in ({"unit_id": "SOC\x00"}, {"person_id": "\x00"}):
        refused = await world.orders.get("/v1/orders", params=filters, headers=it)
        assert refused.status_code == 422, (filters, refused.text)
        assert "NUL" in refused.json()["detail"]


async def test_each_caller_sees_only_the_orders_they_may_see(world: World) -> None:
    parent = await world.unit()
    unit, orderer, employee = await world.staffed_unit(parent=parent.unit_id)
    other, other_orderer, other_employee = await world.staffed_unit()
    mine = (await world.place(unit, orderer, employee, PHONE)).json()["order_id"]
    theirs = (await world.place(other, other_orderer, other_employee, PHONE)).json()["order_id"]
    colleague = await world.hire(unit)
    await world.appoint(unit, colleague)

    def sees(person: str, *roles: str) -> Awaitable[list[str]]:
        return ids(world, world.as_(person, *roles))

    assert mine in await sees(orderer) and theirs not in await sees(orderer)
    assert mine in await sees(colleague)  # every orderer of the unit follows its orders
    assert mine in await sees(unit.head) and theirs not in await sees(unit.head)
    assert mine not in await sees(parent.head)  # not a decision of theirs: the head decides
    assert await sees(employee, "employee") == []
    for role in ("it-service", "auditor"):
        assert {mine, theirs} <= set(await sees("staff-1", role))
    # Filtering never widens what one may see.
    assert await ids(world, world.as_(orderer), unit_id=other.unit_id) == []
    # A revoked orderer still sees the orders they placed themselves.
    await world.orders.delete(f"/v1/units/{unit.unit_id}/orderers/{orderer}",
                              headers=world.as_(unit.head))
    assert await sees(orderer) == [mine]
    assert mine not in await sees(other_orderer)


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in {keys}"
    return dict(pairs)


async def test_listed_orders_are_exactly_the_orders_read_one_by_one(world: World) -> None:
    """The listing renders its page without models (schemas.order_page_json), and so does the
    POST its order (schemas.order_json); every order in them must still be the OrderOut that
    GET /v1/orders/{id} answers — lines added for rule U6,
    a subscription's scope, an advanced phone's need (O4), a unit's own device (U8), decided,
    cancelled."""
    unit, orderer, employee = await world.staffed_unit()
    advanced = "phone-advanced-galaxy-s25"
    responses = [
        await world.place(unit, orderer, employee, PHONE, "sub-mobile-5gb"),
        await world.place(unit, orderer, employee, advanced, justification="Tolkar i fält.",
                          note="Brådskande"),
        await world.place(unit, orderer, None, TABLET),
        await world.place(unit, orderer, employee, TABLET, ("acc-charger-usb-c-25w", 2)),
    ]
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    placed = [r.json() for r in responses]
    # The POST renders the order it placed the same way (schemas.order_json): also OrderOut.
    for response, order in zip(responses, placed, strict=True):
        OrderOut.model_validate_json(response.content)
        json.loads(response.content, object_pairs_hook=no_duplicate_keys)
        alone = await world.orders.get(f"/v1/orders/{order['order_id']}",
                                       headers=world.as_(orderer))
        assert order == alone.json()
    assert (await world.approve(placed[1], unit.head, approve_need=True)).status_code == 200
    rejected = await world.orders.post(f"/v1/orders/{placed[2]['order_id']}/reject",
                                       json={"reason": "Finns redan en."},
                                       headers=world.as_(unit.head, "department-head"))
    assert rejected.status_code == 200, rejected.text
    cancelled = await world.orders.post(f"/v1/orders/{placed[3]['order_id']}/cancel",
                                        json={"reason": "Fel person."},
                                        headers=world.as_(orderer))
    assert cancelled.status_code == 200, cancelled.text
    for headers in (world.as_(orderer), world.as_("it-1", "it-service")):
        items, cursor, pages = [], None, 0
        while pages == 0 or cursor is not None:  # two pages: the cursor is spliced in too
            listed = await world.orders.get("/v1/orders", headers=headers, params={
                "unit_id": unit.unit_id, "limit": 2, **({"cursor": cursor} if cursor else {})})
            assert listed.status_code == 200
            assert listed.headers["content-type"] == "application/json"
            page = OrderPage.model_validate_json(listed.content)  # the documented schema holds
            # one of each key per object: json.loads would silently keep the last of two
            json.loads(listed.content, object_pairs_hook=no_duplicate_keys)
            items += listed.json()["items"]
            cursor, pages = page.next_cursor, pages + 1
        assert pages == 2
        assert [o["order_id"] for o in items] == [o["order_id"] for o in reversed(placed)]
        for item in items:
            alone = await world.orders.get(f"/v1/orders/{item['order_id']}", headers=headers)
            assert alone.status_code == 200
            assert item == alone.json()
    first, second = reversed(items[2:])
    assert {ln["added_for_rule"] for ln in first["lines"]} == {None, "U6"}
    assert [ln["scope"] for ln in first["lines"] if ln["kind"] == "subscription"] == [
        {"calls": True, "sms": True, "mms": True, "data_gb": 5}]
    assert second["needs_approval_of_need"] is True and second["need_approved"] is True
    assert items[1]["recipient_type"] == "unit" and items[1]["status"] == "rejected"
    assert items[0]["status"] == "cancelled"
    assert sorted(ln["quantity"] for ln in items[0]["lines"]) == [1, 2]


async def test_listing_returns_its_connection_to_the_pool(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """GET /v1/orders reads on a connection taken from the pool outside any session
    (shared/runtime.py: ReadConnection): it must hand it back explicitly — one merely dropped is
    terminated by SQLAlchemy's garbage-collection fallback, with a warning, and reconnected —
    and one beyond the pool's size must be closed without error (30 requests at once)."""
    unit, orderer, employee = await world.staffed_unit()
    await world.place(unit, orderer, employee, TABLET)
    headers = world.as_(orderer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(30):
            assert (await world.orders.get("/v1/orders", headers=headers)).status_code == 200
        at_once = await asyncio.gather(*(world.orders.get("/v1/orders", headers=headers)
                                         for _ in range(30)))
        gc.collect()
    assert {r.status_code for r in at_once} == {200}
    assert [str(w.message) for w in caught if "non-checked-in" in str(w.message)] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
