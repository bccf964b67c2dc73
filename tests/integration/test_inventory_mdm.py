"""The MDM side: compliance reports (U4, U5) through the MDM-only endpoint, and a loss reported by
lifecycle (U9) blocking the SIM and locking the device, on both transports."""

from __future__ import annotations

import uuid
from typing import Any

from shared.events.catalogue import LossReported, OrderLine
from tests.integration.test_inventory_helpers import (
    NO_ORDER,
    acknowledgement,
    approved,
    audit_of,
    create_model,
    device,
    fulfilment,
    iccid,
    imei,
    mdm,
    operator,
    outbox,
    phone_line,
    processed,
    publish,
    receive,
    serial,
    stock_until,
    until_fulfilment,
    until_state,
)
from tests.system import RunningSystem


async def _issued_phone(system: RunningSystem, it: dict[str, str], person: str
                        ) -> tuple[str, str, str]:
    """A phone issued to `person` through an order with a subscription: (device, IMEI, ICCID)."""
    model = await create_model(system, it)
    (device_id,) = await receive(system, it, model["model_id"])
    order = approved(phone_line(model["model_id"]),
                     OrderLine(catalogue_item_id="sub", kind="subscription"), person=person)
    await publish(system, order)
    await stock_until(system, it, order.order_id, ["reserved", "reserved"])
    issued = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
        "holder_person_id": person, "acknowledgement": acknowledgement(person)})
    assert issued.status_code == 200, issued.text
    (subscription,) = issued.json()["subscriptions"]
    (activated,) = await outbox(system, "inventory.subscription-activated.v1",
                                subscription["subscription_id"])
    return device_id, issued.json()["device"]["imei"], activated["data"]["sim_iccid"]


async def _report(system: RunningSystem, token_for: Any, *devices: dict[str, Any],
                  report_id: str | None = None) -> Any:
    return await system.inventory.post(
        "/v1/mdm/compliance-reports", headers=token_for("intune", "mdm"),
        json={"report_id": report_id or uuid.uuid4().hex, "devices": list(devices)})


async def test_u4_u5_compliance_report_raises_violations_once_and_closes_them(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    device_id, phone_imei, sim = await _issued_phone(system, it, "cecilia")
    private_sim, stranger = iccid(), imei()
    report = await _report(system, token_for,
                           {"imei": phone_imei, "passcode_set": False,
                            "sim_iccids": [private_sim]},  # U4 and U5: private SIM, our phone
                           {"imei": stranger, "sim_iccids": [sim]},  # U5: our SIM, a stranger
                           {"imei": imei(), "sim_iccids": [iccid()]})  # none of ours: not ours
    assert report.status_code == 201, report.text
    assert report.json()["violations_opened"] == 3
    events = await outbox(system, "inventory.compliance-violation.v1")
    mine = [e["data"] for e in events if e["data"]["report_id"] == report.json()["report_id"]]
    assert sorted((e["rule"], e["sim_iccid"]) for e in mine) == sorted(
        [("U4", None), ("U5", private_sim), ("U5", sim)])
    u4 = next(e for e in mine if e["rule"] == "U4")
    assert u4["device_id"] == device_id and u4["holder_person_id"] == "cecilia"
    assert (await device(system, it, device_id))["passcode_set"] is False

    # The MDM retries its POST: the same report changes nothing.
    again = await _report(system, token_for, {"imei": phone_imei, "passcode_set": False},
                          report_id=report.json()["report_id"])
    assert again.status_code == 200 and again.json()["duplicate"] is True
    # The next nightly report still finds no passcode: still one violation, not two.
    nightly = await _report(system, token_for, {"imei": phone_imei, "passcode_set": False,
                                                "sim_iccids": [private_sim]})
    assert nightly.json()["violations_opened"] == 0
    # Fixed: passcode set, own SIM back in. The findings close; a relapse is a new violation.
    fixed = await _report(system, token_for, {"imei": phone_imei, "passcode_set": True,
                                              "sim_iccids": [sim]})
    assert fixed.json()["violations_opened"] == 0
    findings = (await system.inventory.get("/v1/compliance/findings", headers=it)).json()
    assert not [f for f in findings if f["device_id"] == device_id]
    relapse = await _report(system, token_for, {"imei": phone_imei, "passcode_set": False})
    assert relapse.json()["violations_opened"] == 1


async def test_u4_compliance_endpoint_takes_only_mdm_credentials(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    body = {"report_id": "r-1", "devices": [{"imei": imei(), "passcode_set": False}]}
    for roles in [("it-service",), ("auditor",), ("employee",), ("department-head",)]:
        response = await system_inprocess.inventory.post(
            "/v1/mdm/compliance-reports", json=body, headers=token_for("x", *roles))
        assert response.status_code == 403, roles
    anonymous = await system_inprocess.inventory.post("/v1/mdm/compliance-reports", json=body)
    assert anonymous.status_code == 401
    # and the MDM's credentials reach nothing else
    for path in ("/v1/devices", "/v1/models", "/v1/subscriptions"):
        response = await system_inprocess.inventory.get(path, headers=token_for("intune", "mdm"))
        assert response.status_code == 403, path


async def test_u9_loss_blocks_the_sim_locks_the_device_and_is_announced(
        system: RunningSystem, token_for: Any) -> None:
    it = token_for("it-1", "it-service")
    device_id, _, sim = await _issued_phone(system, it, "david")
    loss = LossReported(loss_id=uuid.uuid4(), device_id=uuid.UUID(device_id), person_id="david",
                        reported_by="david", circumstances="Left on the bus")
    await publish(system, loss, device_id)
    lost = await until_state(system, it, device_id, "lost")
    assert lost["loss_id"] == str(loss.loss_id)
    assert lost["holder_person_id"] == "david"  # who lost it stays on record
    assert operator().sims[sim] == "blocked"
    enrolment = mdm().devices[lost["mdm_enrolment_id"]]
    assert enrolment.lost_mode and enrolment.enrolled
    (event,) = await outbox(system, "inventory.device-lost.v1", device_id)
    assert event["data"]["sim_blocked"] is True
    assert event["data"]["mdm_action"] == "lost-mode"
    assert event["data"]["person_id"] == "david"

    # The same loss again (a redelivery under a new event id) changes and publishes nothing.
    await processed(system, (await publish(system, loss, device_id)).id)
    assert len(await outbox(system, "inventory.device-lost.v1", device_id)) == 1
    # Not coming back: IT service wipes it remotely.
    wiped = await system.inventory.post(f"/v1/devices/{device_id}/wipe", headers=it)
    assert wiped.status_code == 200, wiped.text
    assert not mdm().is_managed(device_id)


async def test_u9_loss_of_an_unmanaged_stock_device_needs_no_mdm(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    (device_id,) = await receive(system, it, model["model_id"])
    unknown = LossReported(loss_id=uuid.uuid4(), device_id=uuid.uuid4(), reported_by="x")
    await processed(system, (await publish(system, unknown)).id)  # not ours: acknowledged
    await publish(system, LossReported(loss_id=uuid.uuid4(), device_id=uuid.UUID(device_id),
                                       reported_by="it-2"))
    await until_state(system, it, device_id, "lost")
    (event,) = await outbox(system, "inventory.device-lost.v1", device_id)
    assert (event["data"]["sim_blocked"], event["data"]["mdm_action"]) == (False, "none")


async def test_u9_o3_a_reserved_device_reported_lost_passes_its_order_line_on(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rules U9, O3: the approved order still needs a phone when the one reserved for it is
    lost; its line takes another in stock at once, or waits again when there is none."""
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    devices = await receive(system, it, model["model_id"], count=2)
    order = approved(phone_line(model["model_id"]))
    await publish(system, order)
    first = (await until_fulfilment(system, it, order.order_id, ["reserved"]))["lines"][0]
    (other,) = [d for d in devices if d != first["device_id"]]
    for lost_id in (first["device_id"], other):
        await publish(system, LossReported(loss_id=uuid.uuid4(), device_id=uuid.UUID(lost_id),
                                           reported_by="it-2", circumstances="Gone from shelf"))
        await until_state(system, it, lost_id, "lost")
        line = (await fulfilment(system, it, order.order_id)).json()["lines"][0]
        if lost_id == first["device_id"]:
            assert (line["state"], line["device_id"]) == ("reserved", other), line
            assert (await device(system, it, other))["state"] == "reserved"
            (reserved,) = await outbox(system, "inventory.device-reserved.v1", other)
            assert reserved["data"]["order_id"] == str(order.order_id)
        else:  # nothing left in stock: the line waits for the next delivery
            assert (line["state"], line["device_id"]) == ("waiting", None), line
    (replacement,) = await receive(system, it, model["model_id"])
    line = (await until_fulfilment(system, it, order.order_id, ["reserved"]))["lines"][0]
    assert line["device_id"] == replacement


async def test_u9_u5_loss_blocks_the_holders_sim_kept_from_an_earlier_phone(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rules U9, U5: a subscription kept at check-in is paired with no device; a municipal SIM
    goes only into a municipal device, so it is in the holder's lost phone: block it too."""
    system, it = system_inprocess, token_for("it-1", "it-service")
    erik, anna = f"erik-{uuid.uuid4().hex[:8]}", f"anna-{uuid.uuid4().hex[:8]}"
    old_phone, _, sim = await _issued_phone(system, it, erik)
    # Not to be blocked: erik's SIM in another phone he still holds, and anna's kept SIM.
    _, _, sim_in_kept_device = await _issued_phone(system, it, erik)
    annas_phone, _, annas_sim = await _issued_phone(system, it, anna)
    for phone in (old_phone, annas_phone):
        back = await system.inventory.post(f"/v1/devices/{phone}/check-in", headers=it,
                                           json={"subscriptions": "keep"})
        assert back.status_code == 200, back.text
    assert operator().sims[sim] == "active"
    model = await create_model(system, it)
    (new_phone,) = await receive(system, it, model["model_id"])
    issued = await system.inventory.post(f"/v1/devices/{new_phone}/issue", headers=it, json={
        "exception_reason": NO_ORDER, "holder_person_id": erik, "unit_id": "SOC-HT",
        "acknowledgement": acknowledgement(erik)})
    assert issued.status_code == 200, issued.text
    await publish(system, LossReported(loss_id=uuid.uuid4(), device_id=uuid.UUID(new_phone),
                                       person_id=erik, reported_by=erik), new_phone)
    await until_state(system, it, new_phone, "lost")
    assert operator().sims[sim] == "blocked"
    assert operator().sims[sim_in_kept_device] == "active"
    assert operator().sims[annas_sim] == "active"
    (event,) = await outbox(system, "inventory.device-lost.v1", new_phone)
    assert event["data"]["sim_blocked"] is True


async def _open_findings(system: RunningSystem, it: dict[str, str]) -> list[dict[str, Any]]:
    response = await system.inventory.get("/v1/compliance/findings", headers=it)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_u4_an_unknown_passcode_state_keeps_the_open_finding_open(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rule U4: a report that could not read the passcode (null) has not shown it fixed: the
    open finding stays open, so the next `false` is the same violation, not a new one."""
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    (device_id,) = await receive(system, it, model["model_id"])
    phone_imei = (await device(system, it, device_id))["imei"]
    opened = []
    for passcode_set in (False, None, False, True, None):
        report = await _report(system, token_for, {"imei": phone_imei,
                                                   "passcode_set": passcode_set})
        assert report.status_code == 201, report.text
        u4 = [f for f in await _open_findings(system, it)
              if f["device_id"] == device_id and f["rule"] == "U4"]
        opened.append((report.json()["violations_opened"], len(u4)))
    # Unknown neither opens a finding nor closes one; only `true` closes it.
    assert opened == [(1, 1), (0, 1), (0, 1), (0, 0), (0, 0)]


async def test_u5_a_stranger_device_known_by_serial_only_closes_when_fixed(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rule U5: our SIM in a device that is not ours and that the MDM names by serial number
    only (no IMEI) is one violation, and it closes when that device is reported without it."""
    system, it = system_inprocess, token_for("it-1", "it-service")
    _, _, sim = await _issued_phone(system, it, f"fia-{uuid.uuid4().hex[:8]}")
    stranger = serial()

    async def u5() -> list[dict[str, Any]]:
        return [f for f in await _open_findings(system, it)
                if f["rule"] == "U5" and f["sim_iccid"] == sim]

    first = await _report(system, token_for, {"serial_number": stranger, "sim_iccids": [sim]})
    again = await _report(system, token_for, {"serial_number": stranger, "sim_iccids": [sim]})
    assert (first.json()["violations_opened"], again.json()["violations_opened"]) == (1, 0)
    (finding,) = await u5()
    assert stranger in finding["detail"]
    other = await _report(system, token_for, {"serial_number": serial(), "sim_iccids": []})
    assert other.status_code == 201 and len(await u5()) == 1  # not about that device
    fixed = await _report(system, token_for, {"serial_number": stranger, "sim_iccids": []})
    assert fixed.status_code == 201 and await u5() == []


async def test_u9_the_replacement_keeps_the_holders_numbers_on_new_sims(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rule U9's replacement path: every number of the lost phone whose SIM the loss barred moves
    to a SIM of its own from stock (a SIM swap at the operator) in the replacement, announced as
    the subscription now stands; a number kept from an earlier phone is not moved."""
    system, it = system_inprocess, token_for("it-1", "it-service")
    person = f"eva-{uuid.uuid4().hex[:8]}"
    kept_phone, _, kept_sim = await _issued_phone(system, it, person)
    back = await system.inventory.post(f"/v1/devices/{kept_phone}/check-in", headers=it,
                                       json={"subscriptions": "keep"})
    assert back.status_code == 200, back.text
    lost_id, _, first_sim = await _issued_phone(system, it, person)
    # A second number in the same phone (a dual-SIM phone): ordered alone, activated into it.
    order = approved(OrderLine(catalogue_item_id="sub", kind="subscription"), person=person)
    await publish(system, order)
    (line,) = (await stock_until(system, it, order.order_id, ["reserved"]))["lines"]
    second = await system.inventory.post(
        f"/v1/subscriptions/{line['subscription_id']}/activate", headers=it,
        json={"device_id": lost_id})
    assert second.status_code == 200, second.text
    (activated,) = await outbox(system, "inventory.subscription-activated.v1",
                                line["subscription_id"])
    second_sim = activated["data"]["sim_iccid"]

    await publish(system, LossReported(loss_id=uuid.uuid4(), device_id=uuid.UUID(lost_id),
                                       person_id=person, reported_by=person), lost_id)
    await until_state(system, it, lost_id, "lost")
    assert {operator().sims[s] for s in (first_sim, second_sim, kept_sim)} == {"blocked"}
    lost = await device(system, it, lost_id)
    (new_phone,) = await receive(system, it, lost["model_id"])
    registered = await system.inventory.post("/v1/sims", headers=it, json={
        "iccids": [iccid() for _ in range(4)]})
    assert registered.status_code == 200, registered.text

    replaced = await system.inventory.post(f"/v1/devices/{new_phone}/issue", headers=it, json={
        "holder_person_id": person, "acknowledgement": acknowledgement(person),
        "replaces_lost_device_id": lost_id})
    assert replaced.status_code == 200, replaced.text
    moved = replaced.json()["subscriptions"]
    assert len(moved) == 2 and {s["device_id"] for s in moved} == {new_phone}
    (issued,) = await outbox(system, "inventory.device-issued.v1", new_phone)
    assert sorted(issued["data"]["subscription_ids"]) == sorted(
        s["subscription_id"] for s in moved)
    new_sims = set()
    for subscription, old_sim in zip(sorted(moved, key=lambda s: s["subscription_id"]),
                                     _sims_in_order(moved, first_sim, second_sim, line),
                                     strict=True):
        (swap,) = [e for e in await audit_of(system, "subscription",
                                             subscription["subscription_id"])
                   if e["action"] == "subscription.sim-swap"]
        assert swap["before"] == {"sim_iccid": old_sim, "device_id": lost_id}
        new_sim = swap["after"]["sim_iccid"]
        assert operator().sims[old_sim] == "terminated" and operator().sims[new_sim] == "active"
        announced = (await outbox(system, "inventory.subscription-activated.v1",
                                  subscription["subscription_id"]))[-1]["data"]
        assert (announced["device_id"], announced["sim_iccid"]) == (new_phone, new_sim)
        new_sims.add(new_sim)
    assert len(new_sims) == 2  # a SIM of its own for each number
    assert operator().sims[kept_sim] == "blocked"  # kept from the earlier phone: not moved


def _sims_in_order(moved: list[dict[str, Any]], first_sim: str, second_sim: str,
                   line: dict[str, Any]) -> list[str]:
    """The old SIM of each moved subscription, in the order of their ids."""
    return [second_sim if s["subscription_id"] == line["subscription_id"] else first_sim
            for s in sorted(moved, key=lambda s: s["subscription_id"])]
