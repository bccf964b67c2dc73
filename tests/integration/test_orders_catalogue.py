"""The standard catalogue (rule O1): seeded on first start, read by anyone signed in, managed
by IT service; retiring an item stops new orders but leaves old orders as they were."""

from __future__ import annotations

from typing import Any

import pytest

from tests.orders_world import World, uid
from tests.system import RunningSystem

PROBLEM = "application/problem+json"


@pytest.fixture
def world(system_inprocess: RunningSystem, token_for) -> World:  # type: ignore[no-untyped-def]
    return World(system_inprocess, token_for)


def new_item(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "item_id": uid("phone-standard-test").lower(), "kind": "phone",
        "name": "Fairphone 5 256 GB", "tier": "standard", "model_id": "fairphone-5",
        "needs_protection": False, "one_time_price_sek": "6990.00",
        "monthly_price_sek": "45.00",
    }
    return body | overrides


async def test_o1_catalogue_is_seeded_with_tiers_tablets_accessories_and_plans(
        world: World) -> None:
    response = await world.orders.get("/v1/catalogue", headers=world.as_("p-any", "employee"))
    assert response.status_code == 200
    items = response.json()
    phones = {i["tier"] for i in items if i["kind"] == "phone"}
    assert phones == {"robust", "simple", "standard", "advanced"}  # rule O4's tiers
    assert any(i["kind"] == "tablet" for i in items)
    accessory_types = {i["accessory_type"] for i in items if i["kind"] == "accessory"}
    assert {"screen-protector", "case", "charger", "headset"} <= accessory_types
    plans = [i for i in items if i["kind"] == "subscription"]
    assert plans and all(set(p["scope"]) == {"calls", "sms", "mms", "data_gb"} for p in plans)
    assert {p["scope"]["data_gb"] for p in plans} >= {0, 1, 5, 20}
    assert all(i["currency"] == "SEK" and i["orderable"] for i in items)
    phone = next(i for i in items if i["item_id"] == "phone-standard-galaxy-a56")
    assert phone["one_time_price_sek"] == "4290.00" and phone["monthly_price_sek"] == "45.00"


async def test_o1_catalogue_filters_by_kind_and_tier(world: World) -> None:
    response = await world.orders.get("/v1/catalogue", params={"kind": "phone",
                                                               "tier": "advanced"},
                                      headers=world.as_("p-any"))
    assert response.status_code == 200
    assert response.json() and all(i["tier"] == "advanced" for i in response.json())
    one = await world.orders.get("/v1/catalogue/sub-mobile-5gb", headers=world.as_("p-any"))
    assert one.json()["scope"] == {"calls": True, "sms": True, "mms": True, "data_gb": 5}
    missing = await world.orders.get("/v1/catalogue/no-such-item", headers=world.as_("p-any"))
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


async def test_o1_catalogue_needs_a_token(world: World) -> None:
    response = await world.orders.get("/v1/catalogue")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("roles", [("employee",), ("department-head",), ("orderer",),
                                   ("auditor",), ("guideline-owner",)])
async def test_o1_only_it_service_manages_the_catalogue(world: World, roles: tuple[str, ...]
                                                        ) -> None:
    body = new_item()
    headers = world.as_("p-someone", *roles)
    assert (await world.orders.post("/v1/catalogue", json=body, headers=headers)
            ).status_code == 403
    assert (await world.orders.post("/v1/catalogue/phone-standard-galaxy-a56/retire",
                                    headers=headers)).status_code == 403
    change = {k: v for k, v in body.items() if k not in ("item_id", "kind")}
    assert (await world.orders.put("/v1/catalogue/phone-standard-galaxy-a56", json=change,
                                   headers=headers)).status_code == 403
    assert (await world.orders.get(f"/v1/catalogue/{body['item_id']}", headers=headers)
            ).status_code == 404
    seeded = await world.orders.get("/v1/catalogue/phone-standard-galaxy-a56", headers=headers)
    assert seeded.json()["orderable"] and seeded.json()["name"].startswith("Samsung")


async def test_o1_it_service_adds_changes_retires_and_reinstates_with_an_audit_trail(
        world: World) -> None:
    it = world.as_("it-3", "it-service")
    body = new_item()
    item_id = body["item_id"]
    created = await world.orders.post("/v1/catalogue", json=body, headers=it)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    assert (await world.orders.post("/v1/catalogue", json=body, headers=it)).status_code == 409
    change = {k: v for k, v in body.items() if k not in ("item_id", "kind")}
    changed = await world.orders.put(f"/v1/catalogue/{item_id}", headers=it,
                                     json=change | {"one_time_price_sek": "6490"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["one_time_price_sek"] == "6490.00" and changed.json()["version"] == 2
    retired = await world.orders.post(f"/v1/catalogue/{item_id}/retire", headers=it)
    assert retired.json()["orderable"] is False and retired.json()["retired_at"]
    listed = await world.orders.get("/v1/catalogue", headers=it)
    assert item_id not in {i["item_id"] for i in listed.json()}
    with_retired = await world.orders.get("/v1/catalogue", params={"include_retired": "true"},
                                          headers=it)
    assert item_id in {i["item_id"] for i in with_retired.json()}
    reinstated = await world.orders.post(f"/v1/catalogue/{item_id}/reinstate", headers=it)
    assert reinstated.json()["orderable"] is True
    actions = await world.sql(
        "SELECT string_agg(action, ',' ORDER BY id) FROM orders.audit_log "
        "WHERE object_type = 'catalogue-item' AND object_id = :i", i=item_id)
    assert actions == "catalogue.create,catalogue.update,catalogue.retire,catalogue.reinstate"


@pytest.mark.parametrize(("overrides", "field"), [
    ({"tier": None}, "tier"),
    ({"kind": "tablet"}, "tier"),
    ({"kind": "subscription", "tier": None, "model_id": None}, "scope"),
    ({"kind": "accessory", "tier": None}, "accessory_type"),
    ({"one_time_price_sek": "-1"}, "one_time_price_sek"),
    ({"item_id": "Has Spaces"}, "item_id"),
])
async def test_o1_an_item_has_the_fields_of_its_kind(world: World, overrides: dict[str, Any],
                                                     field: str) -> None:
    response = await world.orders.post("/v1/catalogue", json=new_item(**overrides),
                                       headers=world.as_("it-3", "it-service"))
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]


async def test_o1_retired_item_cannot_be_ordered_and_old_orders_keep_it(world: World) -> None:
    it = world.as_("it-3", "it-service")
    item = new_item(kind="tablet", tier=None, model_id="tablet-test")
    assert (await world.orders.post("/v1/catalogue", json=item, headers=it)).status_code == 201
    unit, orderer, employee = await world.staffed_unit()
    placed = await world.place(unit, orderer, employee, item["item_id"])
    assert placed.status_code == 201, placed.text
    await world.orders.put(f"/v1/catalogue/{item['item_id']}", headers=it, json={
        k: v for k, v in item.items() if k not in ("item_id", "kind")
    } | {"one_time_price_sek": "1.00"})
    await world.orders.post(f"/v1/catalogue/{item['item_id']}/retire", headers=it)
    refused = await world.place(unit, orderer, employee, item["item_id"])
    assert refused.status_code == 422
    assert refused.json()["rule"] == "O1" and "retired" in refused.json()["detail"]
    kept = await world.orders.get(f"/v1/orders/{placed.json()['order_id']}",
                                  headers=world.as_(orderer))
    assert kept.json()["lines"][0]["one_time_price_sek"] == "6990.00"
    assert kept.json()["one_time_total_sek"] == "6990.00"
