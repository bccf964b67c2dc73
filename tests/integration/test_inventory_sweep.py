"""The consumed sweep (C1) for both reasons, once per device, and what follows: never issued
again, handed in (C3) and handed to the supplier with the erasure confirmation (C2)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from services.inventory.domain_support import WARNING_SHA256
from services.inventory.main import SPEC
from services.inventory.records import today as municipal_today
from services.inventory.sweep import sweep_job
from shared.events.base import decode, wrap
from shared.events.catalogue import REGISTRY, DeviceConsumed
from shared.settings import InventorySettings
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
    until_fulfilment,
    until_state,
)
from tests.system import RunningSystem, eventually

YESTERDAY = (date.today() - timedelta(days=1)).isoformat()


async def _end_updates(system: RunningSystem, it: dict[str, str], model: dict[str, Any]) -> None:
    """The manufacturer ends the model's security updates (rule C1): from today its devices are
    consumed, and none is handed out while they wait for the sweep."""
    body = {k: model[k] for k in ("manufacturer", "model", "kind", "tier", "platform",
                                  "max_os_version", "catalogue_item_id")}
    changed = await system.inventory.put(f"/v1/models/{model['model_id']}", headers=it,
                                         json={**body, "security_updates_end": YESTERDAY})
    assert changed.status_code == 200, changed.text


async def _sweep(system: RunningSystem, it: dict[str, str]) -> dict[str, int]:
    response = await system.inventory.post("/v1/sweeps/consumed", headers=it)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_c1_sweep_consumes_for_both_reasons_once_and_rerun_publishes_nothing(
        system: RunningSystem, token_for: Any) -> None:
    it = token_for("it-1", "it-service")
    ended = await create_model(system, it, max_os_version="14")
    too_old = await create_model(system, it, max_os_version="12.1")
    healthy = await create_model(system, it, max_os_version="16")
    ended_ids = await receive(system, it, ended["model_id"], count=2)
    old_ids = await receive(system, it, too_old["model_id"], count=2)
    (healthy_id,) = await receive(system, it, healthy["model_id"])
    issued = await system.inventory.post(f"/v1/devices/{ended_ids[0]}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_person_id": "erik", "unit_id": "SOC-HT",
        "acknowledgement": acknowledgement("erik")})
    assert issued.status_code == 200, issued.text
    await _end_updates(system, it, ended)
    order = approved(phone_line(too_old["model_id"]))
    await publish(system, order)
    reserved_line = await until_fulfilment(system, it, order.order_id, ["reserved"])
    reserved_id = reserved_line["lines"][0]["device_id"]
    # The job's app now needs a newer Android than `too_old` can ever run.
    app = await system.inventory.post("/v1/required-apps", headers=it, json={
        "app_id": f"app-{uuid.uuid4().hex[:8]}", "name": "Lifecare Mobil Omsorg",
        "platform": "android", "min_os_version": "12.10"})
    assert app.status_code == 201, app.text

    first = await _sweep(system, it)
    assert first["security_updates_ended"] >= 2 and first["required_app_unsupported"] >= 2
    for device_id in ended_ids:
        assert (await device(system, it, device_id))["consumed_reason"] == \
            "security-updates-ended"
    for device_id in old_ids:
        consumed = await device(system, it, device_id)
        assert (consumed["state"], consumed["consumed_reason"]) == (
            "consumed", "required-app-unsupported")
        assert consumed["consumed_on"] == municipal_today().isoformat()  # Swedish midnight
    assert (await device(system, it, healthy_id))["state"] == "in-stock"
    # The reservation the sweep broke waits for stock again, to be filled by a healthy device.
    await until_fulfilment(system, it, order.order_id, ["waiting"])
    assert reserved_id in old_ids

    for device_id in [*ended_ids, *old_ids]:
        (envelope,) = await outbox(system, "inventory.device-consumed.v1", device_id)
        _assert_like_add_event(envelope)
    (held,) = await outbox(system, "inventory.device-consumed.v1", ended_ids[0])
    assert held["data"]["holder_person_id"] == "erik" and held["data"]["unit_id"] == "SOC-HT"
    history = (await system.inventory.get(f"/v1/devices/{reserved_id}/history",
                                          headers=it)).json()
    assert history[-1]["action"] == "device.consume"
    assert history[-1]["before"] == {"state": "reserved"}
    assert history[-1]["after"]["reason"] == "required-app-unsupported"

    rerun = await _sweep(system, it)
    assert rerun == {"consumed": 0, "security_updates_ended": 0, "required_app_unsupported": 0}
    for device_id in [*ended_ids, *old_ids]:
        assert len(await outbox(system, "inventory.device-consumed.v1", device_id)) == 1


def _assert_like_add_event(envelope: dict[str, Any]) -> None:
    """The set-based outbox rows carry the same CloudEvents envelope as add_event writes."""
    parsed, event = decode(json.dumps(envelope).encode(), REGISTRY)  # as a consumer does
    assert isinstance(event, DeviceConsumed)
    assert parsed.time.utcoffset() == timedelta(0)
    # The sweep ran inside the request's trace, as add_event would have; so does the reference.
    assert envelope["traceparent"].startswith("00-")
    reference = wrap(event, subject=envelope["subject"], traceparent=envelope["traceparent"]
                     ).model_dump(mode="json", exclude_none=True)
    assert set(envelope) == set(reference)
    for key in ("specversion", "source", "type", "datacontenttype", "dataschema", "subject",
                "traceparent"):
        assert envelope[key] == reference[key], key
    assert envelope["data"] == reference["data"]
    uuid.UUID(envelope["id"])


async def test_c1_c2_c3_consumed_device_is_never_issued_and_goes_to_the_supplier(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    ended = await create_model(system, it)
    stock_id, held_id = await receive(system, it, ended["model_id"], count=2)
    held = await system.inventory.post(f"/v1/devices/{held_id}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_person_id": "frida", "unit_id": "SOC-HT",
        "acknowledgement": acknowledgement("frida")})
    assert held.status_code == 200, held.text
    await _end_updates(system, it, ended)
    early = await system.inventory.post(f"/v1/devices/{stock_id}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_person_id": "frida", "unit_id": "SOC-HT",
        "acknowledgement": acknowledgement("frida")})
    assert early.status_code == 422 and "C1" in early.json()["detail"], early.text
    assert "security updates have ended" in early.json()["detail"]
    assert (await device(system, it, stock_id))["state"] == "in-stock"
    await _sweep(system, it)
    await until_state(system, it, stock_id, "consumed")

    again = await system.inventory.post(f"/v1/devices/{stock_id}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_person_id": "frida", "unit_id": "SOC-HT",
        "acknowledgement": acknowledgement("frida")})
    assert again.status_code == 422 and "never be issued again" in again.json()["detail"]
    order = approved(phone_line(ended["model_id"]))
    await publish(system, order)
    await until_fulfilment(system, it, order.order_id, ["waiting"])  # nothing reservable

    handover = {"supplier": "Atea Circular", "erasure_confirmation": "Blancco cert 2026-0042"}
    refused = await system.inventory.post(f"/v1/devices/{held_id}/hand-over", headers=it,
                                          json=handover)
    assert refused.status_code == 422 and "C3" in refused.json()["detail"]
    handed_in = await system.inventory.post(f"/v1/devices/{held_id}/check-in", headers=it,
                                            json={"subscriptions": "terminate"})
    assert handed_in.json()["state"] == "consumed"
    assert handed_in.json()["holder_person_id"] is None
    assert await outbox(system, "inventory.device-returned.v1", held_id)
    missing = await system.inventory.post(f"/v1/devices/{held_id}/hand-over", headers=it,
                                          json={"supplier": "Atea Circular"})
    assert missing.status_code == 422 and "erasure_confirmation" in missing.text
    for device_id in (stock_id, held_id):
        done = await system.inventory.post(f"/v1/devices/{device_id}/hand-over", headers=it,
                                           json=handover)
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "handed-to-supplier"
        assert done.json()["erasure_confirmation"] == "Blancco cert 2026-0042"
        (event,) = await outbox(system, "inventory.device-handed-to-supplier.v1", device_id)
        assert event["data"]["erasure_confirmation"] == "Blancco cert 2026-0042"
    twice = await system.inventory.post(f"/v1/devices/{stock_id}/hand-over", headers=it,
                                        json=handover)
    assert twice.status_code == 409


async def test_c1_s4_sweep_abandons_the_open_repair_of_a_device_it_consumes(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rules C1, S4: a device consumed while in repair leaves `in-repair` for good, so the sweep's
    statement closes its open repair as `abandoned` (audited; device-consumed, not
    repair-completed, announces it) instead of leaving it open, unfinishable, for ever."""
    system, it = system_inprocess, token_for("it-1", "it-service")
    person = f"gun-{uuid.uuid4().hex[:8]}"
    ended = await create_model(system, it)
    (device_id,) = await receive(system, it, ended["model_id"])
    issued = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_person_id": person, "unit_id": "SOC-HT",
        "acknowledgement": acknowledgement(person)})
    assert issued.status_code == 200, issued.text
    taken = await system.inventory.post("/v1/repairs", headers=it, json={
        "device_id": device_id, "fault": "Battery swells",
        "warning": {"person_id": person, "confirmed": True, "text_sha256": WARNING_SHA256}})
    assert taken.status_code == 201, taken.text
    repair_id = taken.json()["repair"]["repair_id"]
    await _end_updates(system, it, ended)

    await _sweep(system, it)
    assert (await device(system, it, device_id))["state"] == "consumed"
    repair = (await system.inventory.get(f"/v1/repairs/{repair_id}", headers=it)).json()
    assert (repair["state"], repair["closed_by"]) == ("abandoned", "it-1"), repair
    (entry,) = [e for e in await audit_of(system, "repair", repair_id)
                if e["action"] == "repair.abandoned"]
    assert (entry["actor"], entry["before"]) == ("it-1", {"state": "in-repair"})
    assert entry["after"] == {"state": "abandoned", "because": "device-consumed",
                              "device_id": device_id, "reason": "security-updates-ended"}
    assert await outbox(system, "inventory.repair-completed.v1", device_id) == []
    assert len(await outbox(system, "inventory.device-consumed.v1", device_id)) == 1
    for action, body in (("return", {"acknowledgement": acknowledgement(person)}),
                         ("replace", {"replacement_device_id": str(uuid.uuid4()),
                                      "acknowledgement": acknowledgement(person)})):
        finished = await system.inventory.post(f"/v1/repairs/{repair_id}/{action}",
                                               headers=it, json=body)
        assert finished.status_code == 409 and "abandoned" in finished.json()["detail"], action
    # The consumed device is still handed in (C3) and can go to the supplier (C2).
    handed_in = await system.inventory.post(f"/v1/devices/{device_id}/check-in", headers=it,
                                            json={"subscriptions": "terminate"})
    assert handed_in.status_code == 200, handed_in.text
    assert handed_in.json()["state"] == "consumed"


@dataclass
class _Runtime:
    sessions: Any
    settings: InventorySettings


async def test_c1_scheduled_sweep_runs_as_a_background_job(system_inprocess: RunningSystem,
                                                           token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    assert sweep_job in SPEC.background_jobs
    ended = await create_model(system, it, security_updates_end=YESTERDAY)
    (device_id,) = await receive(system, it, ended["model_id"])
    runtime = _Runtime(system.apps["inventory"].state.sessions,
                       InventorySettings(consumed_sweep_seconds=3600))
    job = asyncio.create_task(sweep_job(runtime))  # type: ignore[arg-type]
    try:
        swept = await eventually(lambda: device(system, it, device_id),
                                 lambda d: d["state"] == "consumed")
    finally:
        job.cancel()
    assert swept["consumed_reason"] == "security-updates-ended"
    assert len(await outbox(system, "inventory.device-consumed.v1", device_id)) == 1
    history = (await system.inventory.get(f"/v1/devices/{device_id}/history",
                                          headers=it)).json()
    assert history[-1]["actor"] == "inventory-sweep"
