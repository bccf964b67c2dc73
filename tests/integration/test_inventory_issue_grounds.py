"""What allows a hand-over (rule O3): the approved order a device is reserved for, a repair, the
lost device it replaces (rule U9's replacement path) or IT service's recorded exception — through
inventory's HTTP API and events."""

from __future__ import annotations

import uuid
from typing import Any

from shared.events.catalogue import LossReported
from tests.integration.test_inventory_helpers import (
    NO_ORDER,
    acknowledgement,
    approved,
    audit_of,
    create_model,
    device,
    outbox,
    phone_line,
    publish,
    receive,
    stock_until,
    until_state,
)
from tests.system import RunningSystem


async def _issue(system: RunningSystem, it: dict[str, str], device_id: str, person: str,
                 **grounds: Any) -> Any:
    return await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
        "holder_person_id": person, "unit_id": "SOC-HT",
        "acknowledgement": acknowledgement(person), **grounds})


async def test_o3_a_device_reserved_for_no_order_is_issued_only_on_a_recorded_exception(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    person = f"anna-{uuid.uuid4().hex[:8]}"
    model = await create_model(system, it)
    (device_id,) = await receive(system, it, model["model_id"])

    refused = await _issue(system, it, device_id, person)
    assert refused.status_code == 422, refused.text
    assert "O3" in refused.json()["detail"] and "exception_reason" in refused.json()["detail"]
    assert (await device(system, it, device_id))["state"] == "in-stock"  # nothing half done
    assert await outbox(system, "inventory.device-issued.v1", device_id) == []
    too_short = await _issue(system, it, device_id, person, exception_reason="because")
    assert too_short.status_code == 422, too_short.text

    issued = await _issue(system, it, device_id, person, exception_reason=NO_ORDER)
    assert issued.status_code == 200, issued.text
    (entry,) = [e for e in await audit_of(system, "device", device_id)
                if e["action"] == "device.issue"]
    assert (entry["actor"], entry["after"]["exception_reason"]) == ("it-1", NO_ORDER)
    (event,) = await outbox(system, "inventory.device-issued.v1", device_id)
    assert event["data"]["order_id"] is None


async def test_o3_a_reserved_device_goes_to_its_approved_order_alone(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    person = f"bo-{uuid.uuid4().hex[:8]}"
    model = await create_model(system, it)
    (device_id,) = await receive(system, it, model["model_id"])
    order = approved(phone_line(model["model_id"]), person=person)
    await publish(system, order)
    await stock_until(system, it, order.order_id, ["reserved"])

    both = await _issue(system, it, device_id, person, exception_reason=NO_ORDER)
    assert both.status_code == 422 and "one ground only" in both.json()["detail"], both.text
    issued = await _issue(system, it, device_id, person)
    assert issued.status_code == 200, issued.text
    (entry,) = [e for e in await audit_of(system, "device", device_id)
                if e["action"] == "device.issue"]
    assert entry["after"]["order_id"] == str(order.order_id)


async def test_u9_a_loss_opens_a_replacement_path_for_the_same_holder_once(
        system: RunningSystem, token_for: Any) -> None:
    """rule U9: a held device reported lost is replaced by one of the same kind for the same
    holder without a new order (the head approved the lost one), and only once."""
    it = token_for("it-1", "it-service")
    person, other = f"cecilia-{uuid.uuid4().hex[:8]}", f"david-{uuid.uuid4().hex[:8]}"
    phones = await create_model(system, it)
    tablets = await create_model(system, it, kind="tablet", tier=None, model="Galaxy Tab")
    advanced = await create_model(system, it, tier="advanced", model="Galaxy S25")
    lost_id, spare, second = await receive(system, it, phones["model_id"], count=3)
    (tablet,) = await receive(system, it, tablets["model_id"])
    (better,) = await receive(system, it, advanced["model_id"])
    assert (await _issue(system, it, lost_id, person, exception_reason=NO_ORDER)).is_success

    not_lost = await _issue(system, it, spare, person, replaces_lost_device_id=lost_id)
    assert not_lost.status_code == 422 and "not lost" in not_lost.json()["detail"]
    await publish(system, LossReported(loss_id=uuid.uuid4(), device_id=uuid.UUID(lost_id),
                                       person_id=person, reported_by=person), lost_id)
    await until_state(system, it, lost_id, "lost")

    for device_id, holder, reason in ((spare, other, "goes to them"),
                                      (tablet, person, "not a tablet"),
                                      (better, person, "not an advanced phone")):
        refused = await _issue(system, it, device_id, holder, replaces_lost_device_id=lost_id)
        assert refused.status_code == 422 and reason in refused.json()["detail"], refused.text
    elsewhere = await system.inventory.post(f"/v1/devices/{spare}/issue", headers=it, json={
        "holder_person_id": person, "unit_id": "BUF-1", "acknowledgement": acknowledgement(person),
        "replaces_lost_device_id": lost_id})
    assert elsewhere.status_code == 422 and "unit SOC-HT" in elsewhere.json()["detail"]
    assert (await device(system, it, spare))["state"] == "in-stock"
    replaced = await system.inventory.post(f"/v1/devices/{spare}/issue", headers=it, json={
        "holder_person_id": person, "acknowledgement": acknowledgement(person),
        "replaces_lost_device_id": lost_id})
    assert replaced.status_code == 200, replaced.text
    lost = await device(system, it, lost_id)
    assert (lost["state"], lost["replaced_by_device_id"]) == ("lost", spare)
    assert replaced.json()["device"]["unit_id"] == lost["unit_id"] == "SOC-HT"
    (event,) = await outbox(system, "inventory.device-issued.v1", spare)
    assert event["data"]["replaces_device_id"] == lost_id
    history = [e["action"] for e in await audit_of(system, "device", lost_id)]
    assert history[-1] == "device.replaced"

    again = await _issue(system, it, second, person, replaces_lost_device_id=lost_id)
    assert again.status_code == 409 and spare in again.json()["detail"], again.text
    assert (await device(system, it, second))["state"] == "in-stock"


async def test_u9_a_found_device_lost_again_is_replaced_again(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rule U9: "once" is per loss — a lost device that turns up and is checked in ends its loss,
    and a later loss of it (by whoever holds it then) opens a replacement path of its own."""
    system, it = system_inprocess, token_for("it-1", "it-service")
    anna, bo = f"anna-{uuid.uuid4().hex[:8]}", f"bo-{uuid.uuid4().hex[:8]}"
    model = await create_model(system, it)
    phone, first, second = await receive(system, it, model["model_id"], count=3)
    assert (await _issue(system, it, phone, anna, exception_reason=NO_ORDER)).is_success

    async def lose(holder: str) -> None:
        await publish(system, LossReported(loss_id=uuid.uuid4(), device_id=uuid.UUID(phone),
                                           person_id=holder, reported_by=holder), phone)
        await until_state(system, it, phone, "lost")

    await lose(anna)
    assert (await _issue(system, it, first, anna, replaces_lost_device_id=phone)).is_success
    found = await system.inventory.post(f"/v1/devices/{phone}/check-in", headers=it,
                                        json={"subscriptions": "terminate"})
    assert found.status_code == 200, found.text
    assert found.json()["replaced_by_device_id"] is None
    (entry,) = [e for e in await audit_of(system, "device", phone)
                if e["action"] == "device.check-in"]
    assert entry["after"]["was_replaced_by"] == first
    await until_state(system, it, phone, "in-stock")

    assert (await _issue(system, it, phone, bo, exception_reason=NO_ORDER)).is_success
    await lose(bo)
    replaced = await _issue(system, it, second, bo, replaces_lost_device_id=phone)
    assert replaced.status_code == 200, replaced.text
    assert (await device(system, it, phone))["replaced_by_device_id"] == second
