"""Placing an order through the HTTP API: what is accepted, what is added (U6), and every refusal
the portal can show (O1, O2, O4, B3, U5, U7, U8) — each a problem naming its rule, and none
leaving anything behind."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from opentelemetry.trace import SpanKind

from shared.direct_route import DirectLane
from shared.events.catalogue import DeviceLost, EmployeeTransferred, EmploymentEnded
from tests.orders_world import World, now, uid
from tests.system import RunningSystem

PROBLEM = "application/problem+json"
PHONE, PLAN = "phone-standard-galaxy-a56", "sub-mobile-5gb"


@pytest.fixture
def world(system_inprocess: RunningSystem, token_for) -> World:  # type: ignore[no-untyped-def]
    return World(system_inprocess, token_for)


async def test_o2_order_is_paid_by_the_units_cost_centre_and_shows_its_costs(world: World
                                                                            ) -> None:
    unit, orderer, employee = await world.staffed_unit(cost_centre="52177")
    placed = await world.place(unit, orderer, employee, PHONE, PLAN,
                               note="Hämtas i Stadshuset")
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert placed.headers["location"] == f"/v1/orders/{order['order_id']}"
    assert order["status"] == "submitted" and order["cost_centre"] == "52177"
    assert order["orderer_id"] == orderer and order["recipient_person_id"] == employee
    assert order["recipient_type"] == "person" and order["approver_person_id"] == unit.head
    # 4290 phone + 149 protector + 249 case (U6); 45 device fee + 69 plan per month.
    assert (order["one_time_total_sek"], order["monthly_total_sek"]) == ("4688.00", "114.00")
    assert order["devices_expected"] == 1
    submitted = await world.outbox("orders.order-submitted.v1", order["order_id"])
    assert len(submitted) == 1 and submitted[0]["sent_at"] is not None
    data = submitted[0]["envelope"]["data"]
    assert data["cost_centre"] == "52177" and data["one_time_total_sek"] == "4688.00"


async def test_a_placed_order_is_traced_from_the_request_to_its_event(world: World) -> None:
    """POST /v1/orders is served by the lane in front of the router (shared/direct_route.py):
    its server span is still named by its route, and the trace reaches the audit entry and the
    event's traceparent."""
    lane = world.system.apps["orders"].router.middleware_stack
    assert isinstance(lane, DirectLane) and lane.serves("POST", "/v1/orders")
    unit, orderer, employee = await world.staffed_unit()
    order = (await world.place(unit, orderer, employee, PHONE, PLAN)).json()
    trace_id = await world.sql("SELECT trace_id FROM orders.audit_log WHERE object_id = :o",
                               o=order["order_id"])
    traceparent = await world.sql("SELECT traceparent FROM orders.outbox "
                                  "WHERE envelope->>'subject' = :o", o=order["order_id"])
    assert traceparent.split("-")[1] == trace_id
    (server,) = [s for s in world.system.spans.get_finished_spans()
                 if s.kind is SpanKind.SERVER and format(s.context.trace_id, "032x") == trace_id]
    assert server.name == "POST /v1/orders"
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/v1/orders"
    assert server.attributes["http.response.status_code"] == 201


async def test_u6_a_phone_brings_its_screen_protector_and_case(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    order = (await world.place(unit, orderer, employee, ("phone-standard-iphone-16e", 2))).json()
    added = {(ln["catalogue_item_id"], ln["quantity"]) for ln in order["lines"]
             if ln["added_for_rule"] == "U6"}
    assert added == {("acc-protector-apple-iphone-16e", 2), ("acc-case-apple-iphone-16e", 2)}


async def test_u6_nothing_is_added_when_the_order_has_them_or_the_model_needs_none(
        world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    own = (await world.place(unit, orderer, employee, PHONE, "acc-protector-samsung-galaxy-a56",
                             "acc-case-samsung-galaxy-a56")).json()
    assert [ln["added_for_rule"] for ln in own["lines"]] == [None, None, None]
    robust = (await world.place(unit, orderer, employee, "phone-robust-xcover7")).json()
    assert [ln["catalogue_item_id"] for ln in robust["lines"]] == ["phone-robust-xcover7"]


async def test_u6_protection_for_the_model_or_for_any_model_is_added_never_another_models(
        world: World) -> None:
    """What fits a phone is a protector or case for its model or for no model in particular
    (the model's own preferred); one for another model never is, however cheap."""
    it, model = world.as_("it-4", "it-service"), uid("acme-one").lower()

    async def add(item_id: str, **fields: object) -> None:
        body = {"item_id": item_id, "monthly_price_sek": "0.00", "needs_protection": False,
                **fields}
        created = await world.orders.post("/v1/catalogue", json=body, headers=it)
        assert created.status_code == 201, created.text

    phone = f"phone-standard-{model}"
    await add(phone, kind="phone", name="Acme One", tier="standard", model_id=model,
              needs_protection=True, one_time_price_sek="3990.00")
    await add(f"acc-protector-{model}", kind="accessory", name="Skärmskydd, Acme One",
              accessory_type="screen-protector", fits_model_ids=[model],
              one_time_price_sek="99.00")
    await add(f"acc-case-universal-{model}", kind="accessory", name="Universalfodral",
              accessory_type="case", fits_model_ids=[], one_time_price_sek="1.00")
    await add(f"acc-case-other-{model}", kind="accessory", name="Skal, annan modell",
              accessory_type="case", fits_model_ids=[f"{model}-other"],
              one_time_price_sek="0.50")
    unit, orderer, employee = await world.staffed_unit()
    try:
        placed = await world.place(unit, orderer, employee, phone)
        assert placed.status_code == 201, placed.text
        added = {ln["catalogue_item_id"] for ln in placed.json()["lines"]
                 if ln["added_for_rule"] == "U6"}
        assert added == {f"acc-protector-{model}", f"acc-case-universal-{model}"}
    finally:  # the universal case would fit every other test's phones too
        for item in (f"acc-case-universal-{model}", f"acc-case-other-{model}"):
            await world.orders.post(f"/v1/catalogue/{item}/retire", headers=it)


async def test_u8_a_shared_device_is_ordered_for_the_unit_itself(world: World) -> None:
    unit, orderer, _ = await world.staffed_unit()
    placed = await world.place(unit, orderer, None, ("tablet-ipad-11-a16", 3), "sub-data-20gb")
    assert placed.status_code == 201, placed.text
    assert placed.json()["recipient_type"] == "unit"
    assert placed.json()["recipient_person_id"] is None
    assert placed.json()["devices_expected"] == 3


async def test_u8_recipient_must_be_stated_even_when_it_is_the_unit(world: World) -> None:
    unit, orderer, _ = await world.staffed_unit()
    response = await world.orders.post("/v1/orders", headers=world.as_(orderer), json={
        "unit_id": unit.unit_id, "lines": [{"catalogue_item_id": PHONE}]})
    assert response.status_code == 422
    assert "recipient_person_id" in response.json()["detail"]


async def test_o2_refused_when_not_an_appointed_orderer_of_that_unit(world: World) -> None:
    unit, _, employee = await world.staffed_unit()
    _, other_orderer, _ = await world.staffed_unit()
    for who in (other_orderer, unit.head, employee):
        refused = await world.place(unit, who, employee, PHONE)
        assert refused.status_code == 403, refused.text
        assert refused.json()["rule"] == "O2" and unit.unit_id in refused.json()["detail"]
    it = await world.orders.post("/v1/orders", headers=world.as_("it-1", "it-service"), json={
        "unit_id": unit.unit_id, "recipient_person_id": employee,
        "lines": [{"catalogue_item_id": PHONE}]})
    assert it.status_code == 403  # IT service manages the catalogue; it does not order


async def test_o2_refused_when_the_recipient_is_not_in_the_unit(world: World) -> None:
    unit, orderer, _ = await world.staffed_unit()
    elsewhere = await world.hire(await world.unit())
    for recipient, says in ((elsewhere, "works in unit"), ("p-unknown", "not known")):
        refused = await world.place(unit, orderer, recipient, PHONE)
        assert refused.status_code == 422
        assert refused.json()["rule"] == "O2" and says in refused.json()["detail"]
    moved = await world.hire(unit)
    target = await world.unit()
    await world.inject(EmployeeTransferred(person_id=moved, from_unit_id=unit.unit_id,
                                           to_unit_id=target.unit_id,
                                           effective_date=date(2026, 6, 1)))
    refused = await world.place(unit, orderer, moved, PHONE)
    assert refused.status_code == 422 and target.unit_id in refused.json()["detail"]


async def test_u7_refused_for_a_person_whose_employment_ended(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    await world.inject(EmploymentEnded(person_id=employee, unit_id=unit.unit_id,
                                       last_day=date(2026, 6, 30)))
    refused = await world.place(unit, orderer, employee, PHONE)
    assert refused.status_code == 422 and refused.json()["rule"] == "U7"


async def test_people_read_model_tolerates_out_of_order_events(world: World) -> None:
    unit, orderer, _ = await world.staffed_unit()
    person, later = "p-ooo-" + uuid.uuid4().hex[:6], now()
    await world.inject(EmploymentEnded(person_id=person, unit_id=unit.unit_id,
                                       last_day=date(2026, 6, 30)), at=later)
    await world.hire(unit, person, at=later - timedelta(days=30))  # the older fact, late
    refused = await world.place(unit, orderer, person, PHONE)
    assert refused.status_code == 422 and refused.json()["rule"] == "U7"


async def test_o4_advanced_phone_needs_a_written_justification(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    refused = await world.place(unit, orderer, employee, "phone-advanced-iphone-16-pro")
    assert refused.status_code == 422 and refused.json()["rule"] == "O4"
    assert "justification" in refused.json()["detail"]
    blank = await world.place(unit, orderer, employee, "phone-advanced-iphone-16-pro",
                              justification="   ")
    assert blank.status_code == 422 and blank.json()["rule"] == "O4"
    placed = await world.place(unit, orderer, employee, "phone-advanced-iphone-16-pro",
                               justification="Dokumenterar bygglovsärenden med fältfoto och "
                                             "3D-skanning på plats.")
    assert placed.status_code == 201 and placed.json()["needs_approval_of_need"] is True


async def test_b3_porting_an_outside_number_in_is_refused(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    response = await world.orders.post("/v1/orders", headers=world.as_(orderer), json={
        "unit_id": unit.unit_id, "recipient_person_id": employee,
        "lines": [{"catalogue_item_id": PHONE},
                  {"catalogue_item_id": PLAN, "port_in_number": "0701234567"}]})
    assert response.status_code == 422
    assert response.json()["rule"] == "B3" and "0701234567" in response.json()["detail"]


async def test_o1_only_catalogue_items_once_each(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    unknown = await world.place(unit, orderer, employee, "iphone-from-the-shop")
    assert unknown.status_code == 422 and unknown.json()["rule"] == "O1"
    twice = await world.place(unit, orderer, employee, PHONE, PHONE)
    assert twice.status_code == 422 and "twice" in twice.json()["detail"]


async def test_u5_subscription_needs_a_municipal_device_held_or_in_the_order(world: World
                                                                            ) -> None:
    unit, orderer, employee = await world.staffed_unit()
    refused = await world.place(unit, orderer, employee, PLAN)
    assert refused.status_code == 422 and refused.json()["rule"] == "U5"
    assert (await world.place(unit, orderer, employee, "tablet-galaxy-tab-a9-plus", PLAN)
            ).status_code == 201  # a device in the same order
    device = await world.issue(holder=employee, unit=unit)  # inventory's device-issued
    assert (await world.place(unit, orderer, employee, PLAN)).status_code == 201
    await world.give_back(device, holder=employee, unit=unit)  # device-returned
    refused = await world.place(unit, orderer, employee, PLAN)
    assert refused.status_code == 422 and refused.json()["rule"] == "U5"


async def test_u5_a_held_accessory_or_a_lost_phone_is_no_device_for_a_sim(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    await world.issue(holder=employee, unit=unit, kind="accessory")
    phone = await world.issue(holder=employee, unit=unit)
    await world.inject(DeviceLost(device_id=phone, person_id=employee, sim_blocked=True,
                                  mdm_action="lost-mode"))
    refused = await world.place(unit, orderer, employee, PLAN)
    assert refused.status_code == 422 and refused.json()["rule"] == "U5"


async def test_u5_for_a_shared_order_the_unit_must_hold_the_device(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    await world.issue(holder=employee, unit=unit)  # a personal phone is not the unit's
    assert (await world.place(unit, orderer, None, PLAN)).status_code == 422
    await world.issue(holder=None, unit=unit, kind="tablet")
    assert (await world.place(unit, orderer, None, PLAN)).status_code == 201


async def test_device_read_model_ignores_an_older_event_that_arrives_late(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    later = now()
    device = await world.issue(holder=employee, unit=unit, at=later)
    await world.give_back(device, holder=employee, unit=unit, at=later - timedelta(hours=1))
    assert (await world.place(unit, orderer, employee, PLAN)).status_code == 201


async def test_a_refusal_leaves_no_order_no_event_and_no_audit_entry(world: World) -> None:
    unit, orderer, employee = await world.staffed_unit()
    before = [await world.sql(f"SELECT count(*) FROM orders.{table}")
              for table in ("orders", "outbox", "audit_log")]
    refused = await world.place(unit, orderer, employee, "phone-advanced-galaxy-s25", PLAN)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM
    after = [await world.sql(f"SELECT count(*) FROM orders.{table}")
             for table in ("orders", "outbox", "audit_log")]
    assert after == before


@pytest.mark.parametrize("body", [
    {"note": "ring\x00 first"},
    {"justification": "\x00"},
    {"lines": [{"catalogue_item_id": "phone\x00"}]},
])
async def test_a_nul_character_in_a_text_is_a_422_and_changes_nothing(
        world: World, body: dict[str, object]) -> None:
    """PostgreSQL stores no NUL in text or jsonb: the request's fault, never a 500."""
    unit, orderer, employee = await world.staffed_unit()
    before = [await world.sql(f"SELECT count(*) FROM orders.{table}")
              for table in ("orders", "outbox", "audit_log", "idempotency_keys")]
    full = {"unit_id": unit.unit_id, "recipient_person_id": employee,
            "lines": [{"catalogue_item_id": PHONE}]} | body
    response = await world.orders.post("/v1/orders", json=full, headers=world.as_(orderer)
                                       | {"Idempotency-Key": uid("k")})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "NUL" in response.json()["detail"]
    after = [await world.sql(f"SELECT count(*) FROM orders.{table}")
             for table in ("orders", "outbox", "audit_log", "idempotency_keys")]
    assert after == before


@pytest.mark.parametrize("body", [
    {"lines": []},
    {"lines": [{"catalogue_item_id": PHONE, "quantity": 0}]},
    {"lines": [{"catalogue_item_id": PHONE, "colour": "red"}]},
    {"justification": "x" * 2001},
])
async def test_invalid_fields_are_a_422_naming_them(world: World, body: dict[str, object]
                                                    ) -> None:
    unit, orderer, employee = await world.staffed_unit()
    full = {"unit_id": unit.unit_id, "recipient_person_id": employee,
            "lines": [{"catalogue_item_id": PHONE}]} | body
    response = await world.orders.post("/v1/orders", json=full, headers=world.as_(orderer))
    assert response.status_code == 422
    assert response.json()["errors"] and response.json()["detail"]
