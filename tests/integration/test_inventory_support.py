"""Support and repair (rules S1–S5, with U8 and B1 at the hand-back) through HTTP and events:
cases accepted, routed or refused; channels (the policy's, else configuration) in every answer;
repair intake only after the holder confirmed the data-loss warning; the device back to the same
holder, or a replacement as return + new issue."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from services.inventory.domain_support import WARNING_SHA256, channels_from
from shared.events.catalogue import LossReported
from tests.integration.test_inventory_duties_helpers import issued_phone, suffix
from tests.integration.test_inventory_helpers import (
    NO_ORDER,
    acknowledgement,
    audit_of,
    create_model,
    device,
    outbox,
    publish,
    receive,
    until_state,
)
from tests.system import RunningSystem

CHANNELS = {"portal": "https://varnamo.kommunsupport.se", "phone": "0370-377800",
            "visit": "IT-service i Stadshuset, Värnamo (IT service in the town hall)"}


def _warning(person: str, **overrides: Any) -> dict[str, Any]:
    return {"person_id": person, "confirmed": True, "text_sha256": WARNING_SHA256, **overrides}


async def _case(system: RunningSystem, headers: dict[str, str], **body: Any) -> Any:
    return await system.inventory.post("/v1/support/cases", headers=headers,
                                       json={"description": "It does not work", **body})


async def _channels_in_effect(system: RunningSystem) -> dict[str, str]:
    """Configuration until a policy-changed has arrived, then the policy's (rules S1, B5;
    tests/integration/test_inventory_policy.py changes the policy)."""
    async with system.apps["inventory"].state.sessions() as session:
        policy = (await session.execute(text(
            "SELECT policy FROM inventory.policy_snapshot"))).scalar_one_or_none()
    if policy is None:
        return CHANNELS
    return channels_from([(c["kind"], c["value"]) for c in
                          policy["municipal"]["support_channels"]], CHANNELS)


async def test_s1_support_channels_are_shown_where_people_need_them(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, me = system_inprocess, token_for("anna", "employee")
    expected = await _channels_in_effect(system)
    response = await system.inventory.get("/v1/support/channels", headers=me)
    assert response.status_code == 200 and response.json() == expected
    for category in ("email", "private-account"):
        case = await _case(system, me, category=category)
        assert case.json()["channels"] == expected, category


@pytest.mark.parametrize("category", ["network-access", "email", "calendar", "app-access"])
async def test_s2_network_email_calendar_and_app_access_are_accepted(
        system: RunningSystem, token_for: Any, category: str) -> None:
    person = f"p-{suffix()}"
    response = await _case(system, token_for(person, "employee"), category=category,
                           description="Cannot reach the intranet from the phone")
    assert response.status_code == 201, response.text
    case = response.json()
    assert (case["outcome"], case["rule"], case["state"]) == ("accepted", "S2", "open")
    assert "may reset the device" in case["message"] and "S4" in case["message"]  # back up first
    (event,) = await outbox(system, "inventory.support-case-opened.v1", case["case_id"])
    assert event["data"]["outcome"] == "accepted" and event["data"]["person_id"] == person
    closed = await system.inventory.post(
        f"/v1/support/cases/{case['case_id']}/close", json={"resolution": "VPN profile fixed"},
        headers=token_for("it-1", "it-service"))
    assert closed.status_code == 200 and closed.json()["state"] == "closed"


async def test_s3_how_an_app_works_is_routed_to_the_apps_own_support(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it, me = system_inprocess, token_for("it-1", "it-service"), token_for("bo", "employee")
    app_id = f"lifecare-{suffix().lower()}"
    created = await system.inventory.put(f"/v1/support/apps/{app_id}", headers=it, json={
        "name": "Lifecare Mobil Omsorg", "owner": "Socialförvaltningen",
        "contact": "Systemförvaltningen Lifecare, vardagar 8–16", "phone": "0370-377999"})
    assert created.status_code == 201, created.text
    changed = await system.inventory.put(f"/v1/support/apps/{app_id}", headers=it, json={
        "name": "Lifecare Mobil Omsorg", "owner": "Socialförvaltningen",
        "contact": "Systemförvaltningen Lifecare, vardagar 8–17", "phone": "0370-377999"})
    assert changed.status_code == 200
    response = await _case(system, me, category="app-usage", app_id=app_id,
                           description="How do I sign a visit in Lifecare?")
    assert response.status_code == 201, response.text
    case = response.json()
    assert (case["outcome"], case["rule"], case["state"]) == ("routed", "S3", "routed")
    assert case["routed_to"]["contact"] == "Systemförvaltningen Lifecare, vardagar 8–17"
    assert "vardagar 8–17" in case["message"]
    # Which app, then? Without it, or with one nobody registered, the case is not taken.
    assert (await _case(system, me, category="app-usage")).status_code == 422
    assert (await _case(system, me, category="app-usage", app_id="nope")).status_code == 422
    # A routed case is not IT service's to close.
    closing = await system.inventory.post(f"/v1/support/cases/{case['case_id']}/close",
                                          json={"resolution": "x" * 5}, headers=it)
    assert closing.status_code == 409


@pytest.mark.parametrize(("category", "description"), [
    ("private-account", "My Apple ID asks for a password"),
    ("private-service", "Swish will not open"),
    ("email", "Please set up my Gmail on the work phone"),  # a private account, by its name
    ("calendar", "Sync my iCloud calendar"),
])
async def test_s5_private_accounts_and_services_are_refused_with_the_reason(
        system_inprocess: RunningSystem, token_for: Any, category: str, description: str
) -> None:
    response = await _case(system_inprocess, token_for("cia", "employee"), category=category,
                           description=description)
    assert response.status_code == 201, response.text
    case = response.json()
    assert (case["outcome"], case["rule"], case["state"]) == ("refused", "S5", "refused")
    assert "not supported" in case["message"] and "Gmail" in case["message"]


async def test_s5_cases_are_the_persons_own(system_inprocess: RunningSystem, token_for: Any
                                            ) -> None:
    system = system_inprocess
    for_other = await _case(system, token_for("dan", "employee"), category="email",
                            person_id="eva")
    assert for_other.status_code == 403
    by_it = await _case(system, token_for("it-1", "it-service"), category="email",
                        person_id="eva")
    assert by_it.status_code == 201 and by_it.json()["person_id"] == "eva"
    listing = await system.inventory.get("/v1/support/cases", params={"person_id": "eva"},
                                         headers=token_for("dan", "employee"))
    assert all(c["person_id"] == "dan" for c in listing.json())
    mine = await system.inventory.get("/v1/support/cases", headers=token_for("eva", "employee"))
    assert by_it.json()["case_id"] in {c["case_id"] for c in mine.json()}


async def test_s4_repair_intake_records_the_holders_confirmation_first(
        system: RunningSystem, token_for: Any) -> None:
    it = token_for("it-1", "it-service")
    person = f"p-{suffix()}"
    phone = await issued_phone(system, it, person=person, unit_id=f"U-{suffix()}")
    warning = await system.inventory.get("/v1/support/repair-warning",
                                         headers=token_for(person, "employee"))
    assert warning.json()["sha256"] == WARNING_SHA256 and "S4" in warning.json()["text"]
    case = (await _case(system, token_for(person, "employee"), category="device-fault",
                        device_id=phone["device_id"], description="Screen cracked")).json()
    assert case["outcome"] == "accepted" and case["rule"] == "S4"
    intake = {"device_id": phone["device_id"], "fault": "Screen cracked",
              "case_id": case["case_id"]}
    for bad in (_warning(person, confirmed=False), _warning(person, text_sha256="0" * 64),
                _warning("someone-else")):
        refused = await system.inventory.post("/v1/repairs", headers=it,
                                              json={**intake, "warning": bad})
        assert refused.status_code == 422 and "S4" in refused.json()["detail"], refused.text
    assert (await device(system, it, phone["device_id"]))["state"] == "issued"
    # The old shortcut no longer takes a held device without the recorded confirmation.
    shortcut = await system.inventory.post(f"/v1/devices/{phone['device_id']}/repair",
                                           json={"data_loss_warned": True}, headers=it)
    assert shortcut.status_code == 422 and "/v1/repairs" in shortcut.json()["detail"]

    taken = await system.inventory.post("/v1/repairs", headers=it,
                                        json={**intake, "warning": _warning(person)})
    assert taken.status_code == 201, taken.text
    repair = taken.json()["repair"]
    assert taken.json()["device"]["state"] == "in-repair"
    assert taken.json()["device"]["holder_person_id"] == person  # the holder keeps the link
    assert repair["warning_confirmed_by"] == person and repair["state"] == "in-repair"
    history = (await system.inventory.get(f"/v1/devices/{phone['device_id']}/history",
                                          headers=it)).json()
    assert history[-1]["action"] == "device.send-to-repair"
    assert history[-1]["after"]["warning_confirmed_by"] == person
    (started,) = await outbox(system, "inventory.repair-started.v1", phone["device_id"])
    assert started["data"]["repair_id"] == repair["repair_id"]
    twice = await system.inventory.post("/v1/repairs", headers=it,
                                        json={**intake, "warning": _warning(person)})
    assert twice.status_code == 409


async def _in_repair(system: RunningSystem, it: dict[str, str], person: str
                     ) -> tuple[dict[str, Any], str]:
    phone = await issued_phone(system, it, person=person, unit_id=f"U-{suffix()}")
    taken = await system.inventory.post("/v1/repairs", headers=it, json={
        "device_id": phone["device_id"], "fault": "Does not charge",
        "warning": _warning(person)})
    assert taken.status_code == 201, taken.text
    return phone, taken.json()["repair"]["repair_id"]


async def test_s4_the_repaired_device_goes_back_to_the_same_holder(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    person = f"p-{suffix()}"
    phone, repair_id = await _in_repair(system, it, person)
    back = await system.inventory.post(f"/v1/repairs/{repair_id}/return", headers=it,
                                       json={"acknowledgement": acknowledgement(person)})
    assert back.status_code == 200, back.text
    assert back.json()["device"]["state"] == "issued"
    assert back.json()["device"]["holder_person_id"] == person
    assert back.json()["repair"]["state"] == "returned-to-holder"
    (done,) = await outbox(system, "inventory.repair-completed.v1", phone["device_id"])
    assert done["data"]["outcome"] == "returned-to-holder"
    again = await system.inventory.post(f"/v1/repairs/{repair_id}/return", headers=it,
                                        json={"acknowledgement": acknowledgement(person)})
    assert again.status_code == 409


async def test_u8_a_replacement_after_repair_is_return_and_new_issue(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    person = f"p-{suffix()}"
    phone, repair_id = await _in_repair(system, it, person)
    model = await create_model(system, it)
    (spare,) = await receive(system, it, model["model_id"])
    # Only the holder takes the replacement (B1 acknowledged by them personally).
    wrong = await system.inventory.post(f"/v1/repairs/{repair_id}/replace", headers=it, json={
        "replacement_device_id": spare, "acknowledgement": acknowledgement("someone-else")})
    assert wrong.status_code == 422
    replaced = await system.inventory.post(f"/v1/repairs/{repair_id}/replace", headers=it, json={
        "replacement_device_id": spare, "acknowledgement": acknowledgement(person)})
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["repair"]["state"] == "replaced"
    assert body["device"]["state"] == "in-repair" and body["device"]["holder_person_id"] is None
    assert body["replacement"]["state"] == "issued"
    assert body["replacement"]["holder_person_id"] == person
    (returned,) = await outbox(system, "inventory.device-returned.v1", phone["device_id"])
    assert returned["data"]["from_person_id"] == person
    (issued,) = await outbox(system, "inventory.device-issued.v1", spare)
    assert issued["data"]["holder_person_id"] == person
    subscription = await system.inventory.get(f"/v1/subscriptions/{phone['subscription_id']}",
                                              headers=it)
    assert subscription.json()["device_id"] == spare  # the number moves with the holder
    announced = (await outbox(system, "inventory.subscription-activated.v1",
                              phone["subscription_id"]))[-1]  # as it now stands (lifecycle)
    assert announced["data"]["device_id"] == spare
    # The old device cannot be handed to anyone from repair: it goes back to stock first.
    stray = await system.inventory.post(f"/v1/devices/{phone['device_id']}/issue", headers=it,
                                        json={"exception_reason": NO_ORDER,
                                              "holder_person_id": person,
                                              "acknowledgement": acknowledgement(person)})
    assert stray.status_code == 409
    missing = await system.inventory.post(f"/v1/repairs/{uuid.uuid4()}/return", headers=it,
                                          json={"acknowledgement": acknowledgement(person)})
    assert missing.status_code == 404


async def test_s4_u8_a_device_in_an_open_repair_leaves_it_only_through_the_repair(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rules S4, U8: restocking or directly issuing a device whose repair is open is refused
    (409 naming the repair's return and replace) — it would leave the holder's subscriptions on
    it and the repair open for good, blocking every later intake of the device."""
    system, it = system_inprocess, token_for("it-1", "it-service")
    person = f"p-{suffix()}"
    phone, repair_id = await _in_repair(system, it, person)
    device_id = phone["device_id"]
    before = await device(system, it, device_id)
    for action, body in (
            ("restock", {"manual_wipe_confirmation": "it-1, factory reset at the desk"}),
            ("issue", {"holder_person_id": person, "acknowledgement": acknowledgement(person)})):
        refused = await system.inventory.post(f"/v1/devices/{device_id}/{action}", headers=it,
                                              json=body)
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert f"/v1/repairs/{repair_id}/return" in detail, detail
        assert f"/v1/repairs/{repair_id}/replace" in detail, detail
    assert await device(system, it, device_id) == before
    repair = await system.inventory.get(f"/v1/repairs/{repair_id}", headers=it)
    assert repair.status_code == 200 and repair.json()["state"] == "in-repair", repair.text
    subscription = await system.inventory.get(f"/v1/subscriptions/{phone['subscription_id']}",
                                              headers=it)
    assert subscription.json()["device_id"] == device_id
    # The repair's own way out still works.
    back = await system.inventory.post(f"/v1/repairs/{repair_id}/return", headers=it,
                                       json={"acknowledgement": acknowledgement(person)})
    assert back.status_code == 200, back.text
    assert back.json()["device"]["state"] == "issued"
    assert back.json()["repair"]["state"] == "returned-to-holder"


async def test_s4_u9_a_return_from_repair_and_a_loss_at_the_same_moment_both_settle(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rules S4, U9: both lock the device, then the repair, so neither waits for the other in a
    deadlock (a 503 or a retried loss): whichever comes first wins, the other follows from it —
    returned then lost, or abandoned and the return refused."""
    system, it = system_inprocess, token_for("it-1", "it-service")
    for _ in range(10):  # the old lock order deadlocked in about two runs of three at 5 rounds
        person = f"p-{suffix()}"
        phone, repair_id = await _in_repair(system, it, person)
        device_id = phone["device_id"]
        loss = LossReported(loss_id=uuid.uuid4(), device_id=uuid.UUID(device_id),
                            person_id=person, reported_by=person)
        back, _ = await asyncio.wait_for(asyncio.gather(
            system.inventory.post(f"/v1/repairs/{repair_id}/return", headers=it,
                                  json={"acknowledgement": acknowledgement(person)}),
            publish(system, loss, device_id)), timeout=30)
        await until_state(system, it, device_id, "lost")
        repair = (await system.inventory.get(f"/v1/repairs/{repair_id}", headers=it)).json()
        assert (back.status_code, repair["state"]) in {(200, "returned-to-holder"),
                                                        (409, "abandoned")}, back.text


async def test_s4_u9_a_device_lost_in_repair_abandons_its_repair_and_can_be_repaired_again(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rules S4, U9: a loss of a device in repair closes its open repair as `abandoned` in the
    same transaction (audited; device-lost, not repair-completed, announces it). Left open, the
    repair could never be finished (the device is no longer in repair) and every later intake of
    the device, once found and back in use, would hit the one-open-repair-per-device index."""
    system, it = system_inprocess, token_for("it-1", "it-service")
    person = f"p-{suffix()}"
    phone, repair_id = await _in_repair(system, it, person)
    device_id = phone["device_id"]
    loss = LossReported(loss_id=uuid.uuid4(), device_id=uuid.UUID(device_id), person_id=person,
                        reported_by=person, circumstances="Stolen from the repair shelf")
    await publish(system, loss, device_id)
    await until_state(system, it, device_id, "lost")

    repair = (await system.inventory.get(f"/v1/repairs/{repair_id}", headers=it)).json()
    assert (repair["state"], repair["closed_by"]) == ("abandoned", "inventory"), repair
    assert repair["closed_at"] is not None
    listed = await system.inventory.get("/v1/repairs", params={"state": "abandoned"}, headers=it)
    assert repair_id in [r["repair_id"] for r in listed.json()], listed.text
    (entry,) = [e for e in await audit_of(system, "repair", repair_id)
                if e["action"] == "repair.abandoned"]
    assert entry["before"] == {"state": "in-repair"}
    assert entry["after"] == {"state": "abandoned", "because": "device-lost",
                              "device_id": device_id, "loss_id": str(loss.loss_id)}
    assert await outbox(system, "inventory.repair-completed.v1", device_id) == []
    assert len(await outbox(system, "inventory.device-lost.v1", device_id)) == 1
    finished = await system.inventory.post(f"/v1/repairs/{repair_id}/return", headers=it,
                                           json={"acknowledgement": acknowledgement(person)})
    assert finished.status_code == 409 and "abandoned" in finished.json()["detail"]

    # Found: handed in, wiped, back in stock, issued again — and it can go to repair again.
    found = await system.inventory.post(f"/v1/devices/{device_id}/check-in", headers=it,
                                        json={"subscriptions": "terminate"})
    assert found.status_code == 200, found.text
    if found.json()["state"] == "returned":
        restocked = await system.inventory.post(
            f"/v1/devices/{device_id}/restock", headers=it,
            json={"manual_wipe_confirmation": "it-1, factory reset at the desk"})
        assert restocked.status_code == 200, restocked.text
    assert (await device(system, it, device_id))["state"] == "in-stock"
    issued = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_person_id": person, "unit_id": f"U-{suffix()}",
        "acknowledgement": acknowledgement(person)})
    assert issued.status_code == 200, issued.text
    again = await system.inventory.post("/v1/repairs", headers=it, json={
        "device_id": device_id, "fault": "Cracked screen", "warning": _warning(person)})
    assert again.status_code == 201, again.text
    assert again.json()["repair"]["state"] == "in-repair"
