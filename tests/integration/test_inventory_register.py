"""The register through inventory's HTTP API: models, receipt (single, bulk), identifiers,
CSV import (all rows or none, with line numbers), listing with keyset pagination."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.events.catalogue import OrderCancelled, OrderLine
from tests.integration.test_inventory_helpers import (
    approved,
    create_model,
    fulfilment,
    imei,
    mdm,
    outbox,
    phone_line,
    processed,
    publish,
    receive,
    serial,
)
from tests.system import RunningSystem, eventually

CASE = OrderLine(catalogue_item_id="case", kind="accessory")  # reserves no device


async def _known(system: RunningSystem, it: dict[str, str], order_id: uuid.UUID) -> None:
    """Wait until inventory has learnt of the order (its fulfilment row exists)."""
    found = await eventually(lambda: fulfilment(system, it, order_id),
                             lambda r: r.status_code == 200)
    assert found.status_code == 200, found.text


async def test_b1_received_device_is_the_municipalitys_and_announced(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it, tier="standard")
    order = approved(phone_line(model["model_id"], quantity=2))  # room for the repeat below
    await publish(system, order)
    await _known(system, it, order.order_id)
    body = {"model_id": model["model_id"], "serial_number": serial(), "imei": imei(),
            "os_version": "14", "order_id": str(order.order_id)}
    response = await system.inventory.post("/v1/devices", json=body, headers=it)
    assert response.status_code == 201, response.text
    device = response.json()
    # In stock, and at once reserved for the order that bought it (its waiting phone line)
    assert (device["owner"], device["state"], device["kind"]) == ("municipality", "reserved",
                                                                  "phone")
    (event,) = await outbox(system, "inventory.device-received.v1", device["device_id"])
    assert event["data"]["owner"] == "municipality"
    assert event["data"]["tier"] == "standard" and event["data"]["imei"] == body["imei"]
    again = await system.inventory.post("/v1/devices", json=body, headers=it)
    assert again.status_code == 409


async def test_o1_imei_luhn_and_intake_reason_are_checked(system_inprocess: RunningSystem,
                                                          token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    good = imei()
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"imei": bad, "intake_exception": "Swap stock from supplier"}, "Luhn"),
        ({"imei": "12345", "intake_exception": "Swap stock from supplier"}, "15 digits"),
        ({"imei": None, "intake_exception": "Swap stock from supplier"}, "needs its IMEI"),
        ({"imei": good}, "O1"),
    ]
    for extra, reason in cases:
        body = {"model_id": model["model_id"], "serial_number": serial(), **extra}
        response = await system.inventory.post("/v1/devices", json=body, headers=it)
        assert response.status_code == 422, response.text
        assert reason in response.json()["detail"]
    unknown = await system.inventory.post("/v1/devices", headers=it, json={
        "model_id": "no-such-model", "serial_number": serial(), "imei": good,
        "intake_exception": "Swap stock from supplier"})
    assert unknown.status_code == 422 and "not registered" in unknown.json()["detail"]


async def test_o1_an_order_id_counts_only_when_it_names_an_approved_order(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """rule O1: any UUID as order_id no longer stands in for the intake reason; only an order
    inventory learnt was approved does. An unknown or cancelled one needs intake_exception."""
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    cancelled = uuid.uuid4()
    await processed(system, (await publish(system, OrderCancelled(
        order_id=cancelled, cancelled_by="o-1", reason="not needed"))).id)
    order = approved(phone_line(model["model_id"], quantity=2), CASE)
    await publish(system, order)
    await _known(system, it, order.order_id)

    def item() -> dict[str, Any]:
        return {"model_id": model["model_id"], "serial_number": serial(), "imei": imei()}

    for order_id, reason in [(uuid.uuid4(), "not known"), (cancelled, "cancelled")]:
        one = await system.inventory.post("/v1/devices", headers=it,
                                          json={**item(), "order_id": str(order_id)})
        bulk = await system.inventory.post("/v1/devices/bulk", headers=it, json={
            "devices": [item()], "order_id": str(order_id)})
        for response in (one, bulk):
            assert response.status_code == 422, response.text
            assert "O1" in response.json()["detail"] and reason in response.json()["detail"]
    listed = await system.inventory.get("/v1/devices", params={"model_id": model["model_id"]},
                                        headers=it)
    assert listed.json()["items"] == []
    # With a recorded reason the unknown order is no obstacle; an approved order needs none.
    excused = await system.inventory.post("/v1/devices", headers=it, json={
        **item(), "order_id": str(uuid.uuid4()), "intake_exception": "Supplier swap stock"})
    assert excused.status_code == 201, excused.text
    # The order covers as many devices as it orders (two phones; its case is not kept), no more.
    too_many = await system.inventory.post("/v1/devices/bulk", headers=it, json={
        "devices": [item(), item(), item()], "order_id": str(order.order_id)})
    assert too_many.status_code == 422 and "O1" in too_many.json()["detail"], too_many.text
    ordered = await system.inventory.post("/v1/devices/bulk", headers=it, json={
        "devices": [item(), item()], "order_id": str(order.order_id)})
    assert ordered.status_code == 201 and ordered.json()["received"] == 2, ordered.text
    one_more = await system.inventory.post("/v1/devices", headers=it,
                                           json={**item(), "order_id": str(order.order_id)})
    assert one_more.status_code == 422 and "2 were taken in" in one_more.json()["detail"]
    excused_more = await system.inventory.post("/v1/devices", headers=it, json={
        **item(), "order_id": str(order.order_id), "intake_exception": "Spare for the order"})
    assert excused_more.status_code == 201, excused_more.text


async def test_bulk_receipt_is_all_or_nothing(system_inprocess: RunningSystem, token_for: Any
                                              ) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    items = [{"model_id": model["model_id"], "serial_number": serial(), "imei": imei()}
             for _ in range(3)]
    items.append({**items[0], "serial_number": serial()})  # the same IMEI twice
    response = await system.inventory.post("/v1/devices/bulk", headers=it, json={
        "devices": items, "intake_exception": "Stock purchase 2026"})
    assert response.status_code == 409
    listed = await system.inventory.get("/v1/devices", params={"model_id": model["model_id"]},
                                        headers=it)
    assert listed.json()["items"] == []
    ok = await system.inventory.post("/v1/devices/bulk", headers=it, json={
        "devices": items[:3], "intake_exception": "Stock purchase 2026"})
    assert ok.status_code == 201 and ok.json()["received"] == 3


def _csv(*rows: str) -> bytes:
    return ("serial_number,model_id,imei,os_version,state,holder_person_id,holder_unit_id,"
            "unit_id,terms_acknowledged_at,acknowledged_by\n" + "\n".join(rows) + "\n").encode()


async def _import(system: RunningSystem, it: dict[str, str], body: bytes) -> Any:
    return await system.inventory.post("/v1/devices/import", content=body, headers={
        **it, "content-type": "text/csv"}, params={"filename": "paper.csv"})


async def _none_of(system: RunningSystem, it: dict[str, str], model_id: str) -> bool:
    listed = await system.inventory.get("/v1/devices", params={"model_id": model_id},
                                        headers=it)
    return listed.json()["items"] == []


async def test_csv_import_with_a_bad_row_names_the_line_and_imports_nothing(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    m, good = model["model_id"], imei()
    body = _csv(
        f"{serial()},{m},{imei()},14,,,,",
        f"{serial()},{m},{good[:-1]}{(int(good[-1]) + 1) % 10},14,,,,",  # line 3: Luhn
        f"{serial()},no-such-model,{imei()},14,,,,",  # line 4
        f"{serial()},{m},{imei()},14,issued,anna,SOC-HT,SOC-HT",  # line 5: both holders, U8
        f"DUP-1,{m},{imei()},14,,,,",
        f"DUP-1,{m},{imei()},14,,,,",  # line 7: serial again
    )
    response = await system.inventory.post("/v1/devices/import", content=body, headers={
        **it, "content-type": "text/csv"}, params={"filename": "devices.csv"})
    assert response.status_code == 422, response.text
    problem = response.json()
    lines = {e["line"]: e["message"] for e in problem["errors"]}
    assert set(lines) == {3, 4, 5, 7}
    assert "Luhn" in lines[3] and "not registered" in lines[4] and "U8" in lines[5]
    assert "line 6" in lines[7]
    assert "nothing was imported" in problem["detail"]
    listed = await system.inventory.get("/v1/devices", params={"model_id": m}, headers=it)
    assert listed.json()["items"] == []


async def test_csv_import_of_good_rows_registers_stock_and_issued_devices(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    m = (await create_model(system, it))["model_id"]
    tablet = (await create_model(system, it, kind="tablet", tier=None,
                                 platform="ipados"))["model_id"]
    body = _csv(f"{serial()},{m},{imei()},14,,,,",
                f"{serial()},{m},{imei()},14,issued,anna,,SOC-HT,2024-03-01,",
                f"{serial()},{tablet},,17.2,issued,,SOC-HT,,2024-03-01,bertil")
    response = await system.inventory.post("/v1/devices/import", content=body, headers={
        **it, "content-type": "text/csv"})
    assert response.status_code == 201, response.text
    assert response.json() == {"imported": 3, "issued": 2}
    anna = await system.inventory.get("/v1/devices", params={"holder_person_id": "anna"},
                                      headers=it)
    (held,) = [d for d in anna.json()["items"] if d["model_id"] == m]
    assert held["state"] == "issued" and held["unit_id"] == "SOC-HT"
    assert held["intake_exception"] == "imported from upload.csv"
    assert len(await outbox(system, "inventory.device-issued.v1", held["device_id"])) == 1
    shared = await system.inventory.get("/v1/devices", params={"model_id": tablet}, headers=it)
    assert shared.json()["items"][0]["holder_unit_id"] == "SOC-HT"


async def test_import_of_an_issued_device_enrols_it_and_stores_the_acknowledgement_b1_b2(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    m = (await create_model(system, it))["model_id"]
    tablet = (await create_model(system, it, kind="tablet", tier=None,
                                 platform="ipados"))["model_id"]
    response = await _import(system, it, _csv(
        f"{serial()},{m},{imei()},14,issued,anna,,SOC-HT,2023-05-03,",  # signed on paper
        f"{serial()},{tablet},,17.2,issued,,SOC-HT,,2023-06-01T09:30+02:00,bertil"))
    assert response.status_code == 201, response.text
    (personal,) = (await system.inventory.get("/v1/devices", params={"model_id": m},
                                              headers=it)).json()["items"]
    device = (await system.inventory.get(f"/v1/devices/{personal['device_id']}",
                                         headers=it)).json()
    assert device["mdm_enrolment_id"] and mdm().is_managed(device["device_id"])  # rule B2
    (ack,) = (await system.inventory.get(f"/v1/devices/{device['device_id']}/acknowledgements",
                                         headers=it)).json()  # rule B1
    on_paper = datetime(2023, 5, 3, tzinfo=ZoneInfo("Europe/Stockholm"))  # the day's start
    assert datetime.fromisoformat(ack["acknowledged_at"]) == on_paper
    assert (ack["person_id"], ack["recorded_by"], ack["terms_version"]) == (
        "anna", "it-1", "B1-2020-10-22")
    terms = (await system.inventory.get("/v1/terms/ownership", headers=it)).json()
    assert ack["terms_sha256"] == terms["sha256"]
    (issued,) = await outbox(system, "inventory.device-issued.v1", device["device_id"])
    assert datetime.fromisoformat(issued["data"]["terms_acknowledged_at"]) == on_paper
    assert issued["data"]["mdm_enrolment_id"] == device["mdm_enrolment_id"]
    history = (await system.inventory.get(f"/v1/devices/{device['device_id']}/history",
                                          headers=it)).json()
    assert [h["action"] for h in history] == ["device.import"]
    assert history[0]["after"]["acknowledgement_id"] == ack["acknowledgement_id"]
    assert history[0]["after"]["mdm_enrolment_id"] == device["mdm_enrolment_id"]
    (shared,) = (await system.inventory.get("/v1/devices", params={"model_id": tablet},
                                            headers=it)).json()["items"]
    assert shared["mdm_enrolment_id"] is not None
    (unit_ack,) = (await system.inventory.get(
        f"/v1/devices/{shared['device_id']}/acknowledgements", headers=it)).json()
    assert unit_ack["person_id"] == "bertil"  # received it for the unit
    assert datetime.fromisoformat(unit_ack["acknowledged_at"]) == datetime(
        2023, 6, 1, 7, 30, tzinfo=UTC)


async def test_import_of_an_issued_device_without_terms_acknowledged_at_imports_nothing_b1(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    m = (await create_model(system, it))["model_id"]
    response = await _import(system, it, _csv(
        f"{serial()},{m},{imei()},14,,,,",
        f"{serial()},{m},{imei()},14,issued,anna,,SOC-HT,2024-03-01,",
        f"{serial()},{m},{imei()},14,issued,bo,,SOC-HT,,"))  # line 4: no acknowledgement
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["line"] == 4
    assert "terms_acknowledged_at" in error["message"] and "rule B1" in error["message"]
    assert "POST /v1/devices/{id}/issue" in error["message"]  # what to do instead
    assert await _none_of(system, it, m)


async def test_import_refuses_a_wrong_acknowledgement_with_its_line_b1(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    m = (await create_model(system, it))["model_id"]
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    response = await _import(system, it, _csv(
        f"{serial()},{m},{imei()},14,issued,anna,,SOC-HT,{tomorrow},",  # line 2: in the future
        f"{serial()},{m},{imei()},14,issued,anna,,SOC-HT,2024-03-01,bertil",  # 3: not the holder
        f"{serial()},{m},{imei()},14,issued,,SOC-HT,,2024-03-01,",  # 4: shared, nobody named
        f"{serial()},{m},{imei()},14,issued,anna,,SOC-HT,1 March 2024,",  # 5: not ISO
        f"{serial()},{m},{imei()},14,,,,,2024-03-01,",  # 6: in stock, acknowledged
        f"{serial()},{m},{imei()},14,issued,anna,,SOC-HT,2019-06-01,",  # 7: older terms
        f"{serial()},{m},{imei()},14,issued,anna,,SOC-HT,2024-03-01,anna"))  # 8: fine
    assert response.status_code == 422, response.text
    lines = {e["line"]: e["message"] for e in response.json()["errors"]}
    assert set(lines) == {2, 3, 4, 5, 6, 7}
    assert "in the future" in lines[2]
    assert "anna personally (rule B1)" in lines[3]
    assert "acknowledged_by" in lines[4] and "SOC-HT" in lines[4]
    assert "not a date" in lines[5]
    assert "in stock" in lines[6] and "terms_acknowledged_at" in lines[6]
    assert "B1-2020-10-22" in lines[7]
    assert await _none_of(system, it, m)


async def test_import_with_the_mdm_unavailable_imports_nothing_b2(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    m = (await create_model(system, it))["model_id"]
    body = _csv(f"{serial()},{m},{imei()},14,,,,",
                f"{serial()},{m},{imei()},14,issued,anna,,SOC-HT,2024-03-01,")
    mdm().available = False
    try:
        response = await _import(system, it, body)
    finally:
        mdm().available = True
    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert "MDM" in detail and "line 3" in detail and "nothing was imported" in detail
    assert await _none_of(system, it, m)
    again = await _import(system, it, body)  # the MDM is back: the same file goes in whole
    assert again.status_code == 201 and again.json() == {"imported": 2, "issued": 1}


async def test_listing_pages_with_a_cursor_and_filters(system_inprocess: RunningSystem,
                                                       token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    soon = (date.today() + timedelta(days=30)).isoformat()
    old = await create_model(system, it, security_updates_end=soon, tier="simple")
    ids = set(await receive(system, it, old["model_id"], count=7))
    seen: list[str] = []
    cursor = None
    while True:
        params = {"model_id": old["model_id"], "limit": 3, **({"cursor": cursor} if cursor
                                                               else {})}
        page = (await system.inventory.get("/v1/devices", params=params, headers=it)).json()
        seen += [d["device_id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7 and set(seen) == ids and seen == sorted(seen, key=uuid.UUID)
    before = (date.today() + timedelta(days=31)).isoformat()
    ending = await system.inventory.get("/v1/devices", headers=it, params={
        "security_updates_before": before, "tier": "simple", "limit": 500})
    assert ids <= {d["device_id"] for d in ending.json()["items"]}
    later = await system.inventory.get("/v1/devices", headers=it, params={
        "security_updates_before": soon, "model_id": old["model_id"]})
    assert later.json()["items"] == []
    bad = await system.inventory.get("/v1/devices", params={"cursor": "!!"}, headers=it)
    assert bad.status_code == 422


async def test_model_changes_are_validated_and_audited(system_inprocess: RunningSystem,
                                                       token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = await create_model(system, it)
    body = {k: model[k] for k in ("manufacturer", "model", "kind", "tier", "platform",
                                  "security_updates_end", "catalogue_item_id")}
    bad = await system.inventory.put(f"/v1/models/{model['model_id']}", headers=it,
                                     json={**body, "max_os_version": "fourteen"})
    assert bad.status_code == 422 and "OS version" in bad.text
    changed = await system.inventory.put(f"/v1/models/{model['model_id']}", headers=it,
                                         json={**body, "max_os_version": "17"})
    assert changed.status_code == 200 and changed.json()["max_os_version"] == "17"
    kind = await system.inventory.put(f"/v1/models/{model['model_id']}", headers=it,
                                      json={**body, "kind": "tablet", "max_os_version": "17"})
    assert kind.status_code == 409
