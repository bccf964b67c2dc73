"""Fulfilment, issuing and returns through inventory's HTTP API and events, on both transports:
receive → order-approved → reserved → issued (B1 acknowledgement stored) → returned, backorders,
redelivered approvals, U8 and the wipe before stock (C3)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from shared.events.base import encode
from shared.events.catalogue import (
    OrderCancelled,
    OrderLine,
    ReturnRequested,
    SubscriptionScope,
)
from tests.integration.test_inventory_helpers import (
    NO_ORDER,
    acknowledgement,
    approved,
    create_model,
    device,
    mdm,
    operator,
    outbox,
    phone_line,
    processed,
    publish,
    receive,
    stock_until,
    until_fulfilment,
    until_state,
)
from tests.system import RunningSystem

SUBSCRIPTION = OrderLine(catalogue_item_id="sub-standard", kind="subscription",
                         scope=SubscriptionScope(calls=True, sms=True, mms=False, data_gb=5))


async def test_o3_b1_u8_receive_reserve_issue_with_acknowledgement_and_return(
        system: RunningSystem, token_for: Any) -> None:
    it = token_for("it-1", "it-service")
    model = await create_model(system, it)
    (device_id,) = await receive(system, it, model["model_id"])
    order = approved(phone_line(model["model_id"]), SUBSCRIPTION, person="emp-flow")
    await publish(system, order, str(order.order_id))

    lines = await stock_until(system, it, order.order_id, ["reserved", "reserved"])
    assert lines["lines"][0]["device_id"] == device_id
    reserved = await until_state(system, it, device_id, "reserved")
    assert reserved["unit_id"] == "SOC-HT"
    assert len(await outbox(system, "inventory.device-reserved.v1", device_id)) == 1

    issued = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
        "holder_person_id": "emp-flow", "acknowledgement": acknowledgement("emp-flow")})
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["device"]["state"] == "issued"
    assert body["device"]["holder_person_id"] == "emp-flow"
    assert body["device"]["owner"] == "municipality"  # rule B1
    assert body["device"]["mdm_enrolment_id"]  # rule B2
    assert mdm().is_managed(device_id)
    (subscription,) = body["subscriptions"]
    assert subscription["state"] == "active" and subscription["device_id"] == device_id
    assert (subscription["data_gb"], subscription["mms"]) == (5, False)  # the head's scope, O3

    stored = await system.inventory.get(f"/v1/devices/{device_id}/acknowledgements",
                                        headers=token_for("emp-flow", "employee"))
    assert stored.status_code == 200
    assert [a["person_id"] for a in stored.json()] == ["emp-flow"]
    assert stored.json()[0]["terms_version"] == "B1-2020-10-22"
    (issued_event,) = await outbox(system, "inventory.device-issued.v1", device_id)
    assert issued_event["data"]["order_id"] == str(order.order_id)
    assert issued_event["data"]["terms_acknowledged_at"]
    assert issued_event["data"]["subscription_ids"] == [subscription["subscription_id"]]

    returned = await system.inventory.post(f"/v1/devices/{device_id}/check-in", headers=it,
                                           json={"subscriptions": "terminate"})
    assert returned.status_code == 200, returned.text
    # rule C3: wiped by the MDM at check-in, so it is back in stock, held by nobody.
    assert returned.json()["state"] == "in-stock"
    assert returned.json()["holder_person_id"] is None
    assert not mdm().is_managed(device_id)
    (returned_event,) = await outbox(system, "inventory.device-returned.v1", device_id)
    assert returned_event["data"]["from_person_id"] == "emp-flow"
    assert returned_event["data"]["wiped"] is True
    terminated = await outbox(system, "inventory.subscription-terminated.v1",
                              subscription["subscription_id"])
    assert len(terminated) == 1
    (activated,) = await outbox(system, "inventory.subscription-activated.v1",
                                subscription["subscription_id"])
    assert operator().sims[activated["data"]["sim_iccid"]] == "terminated"

    history = await system.inventory.get(f"/v1/devices/{device_id}/history", headers=it)
    actions = [entry["action"] for entry in history.json()]
    assert actions == ["device.receive", "device.reserve", "device.issue", "device.check-in",
                       "device.restock"]
    assert history.json()[2]["before"]["state"] == "reserved"
    assert history.json()[2]["after"]["state"] == "issued"


async def test_o3_backorder_is_filled_by_a_later_delivery(system: RunningSystem,
                                                          token_for: Any) -> None:
    it = token_for("it-1", "it-service")
    model = await create_model(system, it)
    order = approved(phone_line(model["model_id"], quantity=2))
    await publish(system, order)
    await until_fulfilment(system, it, order.order_id, ["waiting", "waiting"])

    (first,) = await receive(system, it, model["model_id"])
    filled = await until_fulfilment(system, it, order.order_id, ["reserved", "waiting"])
    assert filled["lines"][0]["device_id"] == first
    reserved = await outbox(system, "inventory.device-reserved.v1", first)
    assert reserved[0]["data"]["from_backorder"] is True

    # A later order waits too; a phone bought for it goes to it, not to the older backorder.
    later = approved(phone_line(model["model_id"]))
    await publish(system, later)
    await until_fulfilment(system, it, later.order_id, ["waiting"])
    (bought,) = await receive(system, it, model["model_id"], order_id=str(later.order_id),
                              intake_exception=None)
    taken = await until_fulfilment(system, it, later.order_id, ["reserved"])
    assert taken["lines"][0]["device_id"] == bought
    await until_fulfilment(system, it, order.order_id, ["reserved", "waiting"])

    (second,) = await receive(system, it, model["model_id"])
    filled = await until_fulfilment(system, it, order.order_id, ["reserved", "reserved"])
    assert filled["lines"][1]["device_id"] == second


async def test_o3_redelivered_order_approved_reserves_nothing_twice(
        system: RunningSystem, token_for: Any) -> None:
    it = token_for("it-1", "it-service")
    model = await create_model(system, it)
    devices = await receive(system, it, model["model_id"], count=3)
    order = approved(phone_line(model["model_id"]))
    await publish(system, order)
    await until_fulfilment(system, it, order.order_id, ["reserved"])
    # The same fact again, as new event ids (a producer retry) and as the very same envelope.
    again = await publish(system, order)
    other = await publish(system, order)
    transport = system.apps["orders"].state.runtime.transport
    await transport.publish(order.routing_key(), encode(again), message_id=again.id, headers={})
    await processed(system, again.id, other.id)

    states = [(await device(system, it, d))["state"] for d in devices]
    assert sorted(states) == ["in-stock", "in-stock", "reserved"]
    fulfilled = await until_fulfilment(system, it, order.order_id, ["reserved"])
    reserved = [e for e in await outbox(system, "inventory.device-reserved.v1")
                if e["data"]["order_id"] == str(order.order_id)]
    assert [e["data"]["device_id"] for e in reserved] == [fulfilled["lines"][0]["device_id"]]


async def test_u8_personal_device_is_never_handed_straight_to_another_person(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    (device_id,) = await receive(system, it, model["model_id"])
    first = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_person_id": "anna", "unit_id": "SOC-HT",
        "acknowledgement": acknowledgement("anna")})
    assert first.status_code == 200, first.text

    transfer = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_person_id": "bertil", "unit_id": "SOC-HT",
        "acknowledgement": acknowledgement("bertil")})
    assert transfer.status_code == 422
    assert "U8" in transfer.json()["detail"] and "Check it in first" in transfer.json()["detail"]
    to_unit = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_unit_id": "SOC-HT",
        "acknowledgement": acknowledgement("bertil")})
    assert to_unit.status_code == 422 and "U8" in to_unit.json()["detail"]
    both = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_person_id": "bertil", "holder_unit_id": "SOC-HT",
        "acknowledgement": acknowledgement("bertil")})
    assert both.status_code == 422 and "never both" in both.json()["detail"]
    (spare,) = await receive(system, it, model["model_id"])
    elsewhere = await system.inventory.post(f"/v1/devices/{spare}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_unit_id": "SOC-HT", "unit_id": "BUF-1",
        "acknowledgement": acknowledgement("bertil")})
    assert elsewhere.status_code == 422 and "U8" in elsewhere.json()["detail"]
    assert (await device(system, it, device_id))["holder_person_id"] == "anna"

    # The way it is done: return, then a new issue with the new holder's own acknowledgement.
    back = await system.inventory.post(f"/v1/devices/{device_id}/check-in", headers=it,
                                       json={"subscriptions": "keep"})
    assert back.json()["state"] == "in-stock"
    second = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_person_id": "bertil", "unit_id": "SOC-HT",
        "acknowledgement": acknowledgement("bertil")})
    assert second.status_code == 200, second.text
    assert len(await outbox(system, "inventory.device-issued.v1", device_id)) == 2


async def test_b1_issue_needs_the_holders_own_acknowledgement_of_current_terms(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    (device_id,) = await receive(system, it, model["model_id"])
    terms = (await system.inventory.get("/v1/terms/ownership",
                                        headers=token_for("anna", "employee"))).json()
    assert "äger" in terms["text"] and terms["version"] == "B1-2020-10-22"
    for ack, reason in [
        (acknowledgement("someone-else"), "personally"),
        ({**acknowledgement("anna"), "accepted": False}, "acknowledge"),
        ({**acknowledgement("anna"), "terms_sha256": "0" * 64}, "current"),
    ]:
        response = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it,
                                               json={"exception_reason": NO_ORDER,
                                                     "holder_person_id": "anna",
                                                     "unit_id": "SOC-HT",
                                                     "acknowledgement": ack})
        assert response.status_code == 422 and reason in response.json()["detail"], response.text
    assert (await device(system, it, device_id))["state"] == "in-stock"
    assert not await outbox(system, "inventory.device-issued.v1", device_id)


async def test_c3_a_device_whose_wipe_is_pending_stays_out_of_stock(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    (device_id,) = await receive(system, it, model["model_id"])
    back = await _checked_in_while_the_wipe_is_pending(system, it, device_id)
    assert back.json()["state"] == "returned"
    early = await system.inventory.post(f"/v1/devices/{device_id}/restock", headers=it, json={})
    assert early.status_code == 422 and "not confirmed the wipe" in early.json()["detail"]
    mdm().complete(f"{(await _wipe_command(system, it, device_id))}")
    restocked = await system.inventory.post(f"/v1/devices/{device_id}/restock", headers=it,
                                            json={})
    assert restocked.status_code == 200 and restocked.json()["state"] == "in-stock"


async def _checked_in_while_the_wipe_is_pending(system: RunningSystem, it: dict[str, str],
                                                device_id: str) -> Any:
    """Issued to anna and handed back while the MDM does not confirm its wipe: the check-in's
    answer."""
    issued = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_person_id": "anna", "unit_id": "SOC-HT",
        "acknowledgement": acknowledgement("anna")})
    assert issued.status_code == 200, issued.text
    mdm().auto_complete = False  # the phone is switched off in a drawer
    try:
        return await system.inventory.post(f"/v1/devices/{device_id}/check-in", headers=it,
                                           json={"subscriptions": "keep"})
    finally:
        mdm().auto_complete = True


async def _wipe_command(system: RunningSystem, it: dict[str, str], device_id: str) -> str:
    history = (await system.inventory.get(f"/v1/devices/{device_id}/history",
                                          headers=it)).json()
    return str(history[-1]["after"]["wipe_command_id"])


async def test_o3_cancelled_order_releases_its_reservation(system_inprocess: RunningSystem,
                                                           token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    (device_id,) = await receive(system, it, model["model_id"])
    order = approved(phone_line(model["model_id"]))
    await publish(system, order)
    await until_state(system, it, device_id, "reserved")
    await publish(system, OrderCancelled(order_id=order.order_id, cancelled_by="o-1",
                                         reason="not needed"))
    await until_state(system, it, device_id, "in-stock")
    # A cancellation that overtakes its approval leaves nothing to reserve later.
    late = approved(phone_line(model["model_id"]))
    await publish(system, OrderCancelled(order_id=late.order_id, cancelled_by="o-1",
                                         reason="changed mind"))
    await processed(system, (await publish(system, late)).id)
    assert (await device(system, it, device_id))["state"] == "in-stock"
    lines = (await system.inventory.get(f"/v1/fulfilment/{late.order_id}", headers=it)).json()
    assert lines["state"] == "cancelled" and lines["lines"] == []


async def test_c3_device_returned_is_published_once_when_the_restock_follows_later(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rule C3: a check-in announces device-returned; the restock after a pending wipe or after
    a repair does not announce it a second time (the device keeps its unit_id until the restock,
    but nobody holds it any more)."""
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    pending, repair = await receive(system, it, model["model_id"], count=2)
    issued = await system.inventory.post(f"/v1/devices/{repair}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_person_id": "anna", "unit_id": "SOC-HT",
        "acknowledgement": acknowledgement("anna")})
    assert issued.status_code == 200, issued.text
    back = await _checked_in_while_the_wipe_is_pending(system, it, pending)
    assert back.json()["state"] == "returned", back.text
    mdm().complete(await _wipe_command(system, it, pending))
    to_repair = await system.inventory.post(f"/v1/devices/{repair}/check-in", headers=it,
                                            json={"subscriptions": "keep",
                                                  "condition": "needs-repair"})
    assert to_repair.json()["state"] == "in-repair", to_repair.text
    assert to_repair.json()["unit_id"] == "SOC-HT" and to_repair.json()["holder_person_id"] is None
    for device_id in (pending, repair):
        restocked = await system.inventory.post(f"/v1/devices/{device_id}/restock", headers=it,
                                                json={})
        assert restocked.status_code == 200 and restocked.json()["state"] == "in-stock"
        (returned,) = await outbox(system, "inventory.device-returned.v1", device_id)
        assert returned["data"]["from_person_id"] == "anna"


async def test_u7_u8_a_late_return_request_for_the_previous_holder_stays_off_the_next_one(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rules U7, U8: anna's return-requested arrives after her phone came back and went to
    bertil; it is about anna's holding, so bertil's check-in names no case of hers."""
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    (device_id,) = await receive(system, it, model["model_id"])

    async def issue(person: str) -> None:
        issued = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
            "exception_reason": NO_ORDER, "holder_person_id": person, "unit_id": "SOC-HT",
            "acknowledgement": acknowledgement(person)})
        assert issued.status_code == 200, issued.text

    def requested(person: str) -> ReturnRequested:
        return ReturnRequested(return_case_id=uuid.uuid4(), device_id=uuid.UUID(device_id),
                               person_id=person, unit_id="SOC-HT", reason="employment-ended",
                               due_date=date.today())

    async def check_in() -> dict[str, Any]:
        back = await system.inventory.post(f"/v1/devices/{device_id}/check-in", headers=it,
                                           json={"subscriptions": "keep"})
        assert back.status_code == 200, back.text
        return (await outbox(system, "inventory.device-returned.v1", device_id))[-1]["data"]

    await issue("anna")
    await check_in()
    await issue("bertil")
    late = requested("anna")
    await processed(system, (await publish(system, late)).id)
    history = await system.inventory.get(f"/v1/devices/{device_id}/history", headers=it)
    assert "device.return-requested" not in [e["action"] for e in history.json()]
    returned = await check_in()
    assert (returned["from_person_id"], returned["return_case_id"]) == ("bertil", None)

    # A request about the holder now is remembered and named at the check-in.
    await issue("bertil")
    own = requested("bertil")
    await processed(system, (await publish(system, own)).id)
    returned = await check_in()
    assert returned["return_case_id"] == str(own.return_case_id)
