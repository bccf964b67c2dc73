"""The authorization matrix of the orders API: every endpoint against every kind of caller,
each on a fresh scene, so that an allowed call never hides a refused one (BOLA and BFLA)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.orders_world import Unit, World, uid
from tests.system import RunningSystem

ACTORS = ("anonymous", "employee", "orderer", "other-orderer", "head", "other-head",
          "it-service", "auditor")
ROLES = {"employee": "employee", "orderer": "orderer", "other-orderer": "orderer",
         "head": "department-head", "other-head": "department-head",
         "it-service": "it-service", "auditor": "auditor"}


@dataclass
class Scene:
    world: World
    unit: Unit
    people: dict[str, str]
    order_id: str
    item_id: str

    def headers(self, actor: str) -> dict[str, str]:
        if actor == "anonymous":
            return {}
        return self.world.as_(self.people[actor], ROLES[actor])


async def build(world: World) -> Scene:
    unit, orderer, employee = await world.staffed_unit()
    other, other_orderer, _ = await world.staffed_unit()
    order = await world.place(unit, orderer, employee, "phone-simple-galaxy-a16")
    item = await world.orders.post("/v1/catalogue", headers=world.as_("it-0", "it-service"),
                                   json={"item_id": uid("acc-matrix"), "kind": "accessory",
                                         "name": "Powerbank 10 000 mAh",
                                         "accessory_type": "powerbank",
                                         "one_time_price_sek": "299", "monthly_price_sek": "0"})
    assert order.status_code == 201 and item.status_code == 201
    people = {"employee": employee, "orderer": orderer, "other-orderer": other_orderer,
              "head": unit.head, "other-head": other.head, "it-service": uid("it"),
              "auditor": uid("aud")}
    return Scene(world, unit, people, order.json()["order_id"], item.json()["item_id"])


Call = Callable[[Scene, httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]


async def listing_shows_order(s: Scene, c: httpx.AsyncClient, h: dict[str, str]
                              ) -> httpx.Response:
    """200 if the order is in the caller's listing, 404 if the listing leaves it out."""
    response = await c.get("/v1/orders", params={"limit": 200}, headers=h)
    if response.status_code != 200:
        return response
    seen = s.order_id in {o["order_id"] for o in response.json()["items"]}
    return httpx.Response(200 if seen else 404)


CALLS: dict[str, Call] = {
    "read catalogue": lambda s, c, h: c.get("/v1/catalogue", headers=h),
    "add item": lambda s, c, h: c.post("/v1/catalogue", headers=h, json={
        "item_id": uid("acc-x"), "kind": "accessory", "name": "Laddplatta",
        "accessory_type": "charger", "one_time_price_sek": "199", "monthly_price_sek": "0"}),
    "change item": lambda s, c, h: c.put(f"/v1/catalogue/{s.item_id}", headers=h, json={
        "name": "Powerbank 20 000 mAh", "accessory_type": "powerbank",
        "one_time_price_sek": "399", "monthly_price_sek": "0"}),
    "retire item": lambda s, c, h: c.post(f"/v1/catalogue/{s.item_id}/retire", headers=h),
    "reinstate item": lambda s, c, h: c.post(f"/v1/catalogue/{s.item_id}/reinstate",
                                             headers=h),
    "list orderers": lambda s, c, h: c.get(f"/v1/units/{s.unit.unit_id}/orderers", headers=h),
    "appoint": lambda s, c, h: c.put(
        f"/v1/units/{s.unit.unit_id}/orderers/{s.people['employee']}", headers=h),
    "revoke": lambda s, c, h: c.delete(
        f"/v1/units/{s.unit.unit_id}/orderers/{s.people['orderer']}", headers=h),
    "place order": lambda s, c, h: c.post("/v1/orders", headers=h, json={
        "unit_id": s.unit.unit_id, "recipient_person_id": s.people["employee"],
        "lines": [{"catalogue_item_id": "phone-robust-xcover7"}]}),
    "read order": lambda s, c, h: c.get(f"/v1/orders/{s.order_id}", headers=h),
    "list orders": listing_shows_order,
    "approve": lambda s, c, h: c.post(f"/v1/orders/{s.order_id}/approve", headers=h),
    "reject": lambda s, c, h: c.post(f"/v1/orders/{s.order_id}/reject", headers=h,
                                     json={"reason": "Inte i år."}),
    "cancel": lambda s, c, h: c.post(f"/v1/orders/{s.order_id}/cancel", headers=h),
}

# Expected status per endpoint: the actors allowed and their answer; everyone else signed in
# gets the `else` answer (403, or 404 for "not in my listing"); anonymous always 401.
MATRIX: dict[str, tuple[dict[str, int], int]] = {
    "read catalogue": ({a: 200 for a in ACTORS}, 200),
    "add item": ({"it-service": 201}, 403),
    "change item": ({"it-service": 200}, 403),
    "retire item": ({"it-service": 200}, 403),
    "reinstate item": ({"it-service": 200}, 403),
    "list orderers": ({"head": 200, "it-service": 200, "auditor": 200}, 403),
    "appoint": ({"head": 201}, 403),
    "revoke": ({"head": 200}, 403),
    "place order": ({"orderer": 201}, 403),
    "read order": ({"orderer": 200, "head": 200, "it-service": 200, "auditor": 200}, 403),
    "list orders": ({"orderer": 200, "head": 200, "it-service": 200, "auditor": 200}, 404),
    "approve": ({"head": 200}, 403),
    "reject": ({"head": 200}, 403),
    "cancel": ({"orderer": 200}, 403),
}


def cases() -> list[Any]:
    return [pytest.param(call, actor, id=f"{call}-{actor}") for call in CALLS for actor in ACTORS]


@pytest.mark.parametrize(("call", "actor"), cases())
async def test_authorization_matrix(system_inprocess: RunningSystem, token_for,  # type: ignore[no-untyped-def]
                                    call: str, actor: str) -> None:
    scene = await build(World(system_inprocess, token_for))
    allowed, otherwise = MATRIX[call]
    expected = 401 if actor == "anonymous" else allowed.get(actor, otherwise)
    response = await CALLS[call](scene, system_inprocess.orders, scene.headers(actor))
    assert response.status_code == expected, f"{call} by {actor}: {response.text}"
    if expected in (401, 403):
        assert response.headers["content-type"] == "application/problem+json"


async def test_matrix_covers_every_route_of_the_orders_api(system_inprocess: RunningSystem
                                                         ) -> None:
    paths = system_inprocess.apps["orders"].openapi()["paths"]
    routes = {(method, path) for path, item in paths.items() if path.startswith("/v1/")
              for method in item}
    # One entry per route; GET /v1/catalogue/{item_id}, /v1/units/{unit_id} and /v1/me are
    # open to anyone signed in and tested in test_orders_catalogue / test_orders_orderers.
    assert len(routes) == len(CALLS) + 3, sorted(routes)
