"""The authorization matrix: IT service manages; the auditor reads everything; a head reads the
devices of the units they head (and below, from lifecycle's unit events); a person reads their
own; the MDM's credentials reach only the compliance endpoint. Everything else is 403 (or 401)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from shared.events.catalogue import OrderLine, UnitRegistered
from tests.integration.test_inventory_helpers import (
    NO_ORDER,
    acknowledgement,
    approved,
    create_model,
    phone_line,
    processed,
    publish,
    receive,
    stock_until,
)
from tests.system import RunningSystem

ROLES: dict[str, tuple[str, ...]] = {
    "it": ("it-1", "it-service"),
    "auditor": ("aud-1", "auditor"),
    "head-a": ("head-a", "department-head", "employee"),
    "head-b": ("head-b", "department-head", "employee"),
    "holder": ("p-1", "employee"),
    "other": ("p-2", "employee", "orderer"),
    "mdm": ("intune", "mdm"),
}


@pytest.fixture(scope="module")
async def world(system_inprocess: RunningSystem, token_for: Any) -> dict[str, Any]:
    """Units A (head-a) ⊃ A-sub, unit B (head-b); a personal device of p-1 in A, a shared
    device of A-sub, a personal device of p-2 in B, and p-1's subscription."""
    system, it = system_inprocess, token_for(*ROLES["it"])
    suffix = uuid.uuid4().hex[:6]
    a, a_sub, b = f"A-{suffix}", f"ASUB-{suffix}", f"B-{suffix}"
    ids = []
    for unit, parent, head in ((a, None, "head-a"), (a_sub, a, None), (b, None, "head-b")):
        ids.append((await publish(system, UnitRegistered(
            unit_id=unit, name=unit, administration="Socialförvaltningen",
            parent_unit_id=parent, cost_centre="41230", head_person_id=head))).id)
    await processed(system, *ids)
    model = await create_model(system, it)
    received = await receive(system, it, model["model_id"], count=4)
    order = approved(phone_line(model["model_id"]),
                     OrderLine(catalogue_item_id="sub", kind="subscription"), person="p-1",
                     unit=a)
    await publish(system, order)
    await stock_until(system, it, order.order_id, ["reserved", "reserved"])
    reserved = (await system.inventory.get(f"/v1/fulfilment/{order.order_id}",
                                           headers=it)).json()["lines"][0]["device_id"]
    issued = await system.inventory.post(f"/v1/devices/{reserved}/issue", headers=it, json={
        "holder_person_id": "p-1", "acknowledgement": acknowledgement("p-1")})
    subscription = issued.json()["subscriptions"][0]["subscription_id"]
    shared, others, spare = [d for d in received if d != reserved]
    for device_id, body in (
            (shared, {"holder_unit_id": a_sub, "acknowledgement": acknowledgement("p-9"),
                      "exception_reason": NO_ORDER}),
            (others, {"holder_person_id": "p-2", "unit_id": b, "exception_reason": NO_ORDER,
                      "acknowledgement": acknowledgement("p-2")})):
        response = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it,
                                               json=body)
        assert response.status_code == 200, response.text
    return {"personal": reserved, "shared": shared, "others": others, "spare": spare,
            "subscription": subscription, "order": str(order.order_id)}


READS: dict[str, set[str]] = {
    # who may read the object named by the key (and its history and acknowledgements)
    "personal": {"it", "auditor", "head-a", "holder"},
    "shared": {"it", "auditor", "head-a"},
    "others": {"it", "auditor", "head-b", "other"},
}


def _headers(token_for: Callable[..., dict[str, str]], role: str) -> dict[str, str]:
    return token_for(*ROLES[role])


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("target", list(READS))
@pytest.mark.parametrize("suffix", ["", "/history", "/acknowledgements"])
async def test_u8_device_reads_are_checked_per_object(
        system_inprocess: RunningSystem, token_for: Any, world: dict[str, Any], role: str,
        target: str, suffix: str) -> None:
    response = await system_inprocess.inventory.get(f"/v1/devices/{world[target]}{suffix}",
                                                    headers=_headers(token_for, role))
    expected = 200 if role in READS[target] else 403
    assert response.status_code == expected, (role, target, suffix, response.text)


@pytest.mark.parametrize("role", list(ROLES))
async def test_device_listing_shows_only_what_the_caller_may_see(
        system_inprocess: RunningSystem, token_for: Any, world: dict[str, Any], role: str
) -> None:
    response = await system_inprocess.inventory.get(
        "/v1/devices", params={"limit": 500, "state": "issued"},
        headers=_headers(token_for, role))
    if role == "mdm":
        assert response.status_code == 403
        return
    assert response.status_code == 200, response.text
    seen = {d["device_id"] for d in response.json()["items"]}
    mine = {world[t] for t, readers in READS.items() if role in readers}
    assert seen & {world[t] for t in READS} == mine, role
    # A filter never widens the view: the holder asking for someone else's gets nothing.
    if role == "holder":
        other = await system_inprocess.inventory.get(
            "/v1/devices", params={"holder_person_id": "p-2"}, headers=_headers(token_for, role))
        assert other.json()["items"] == []


@pytest.mark.parametrize("role", list(ROLES))
async def test_subscription_reads_are_checked_per_object(
        system_inprocess: RunningSystem, token_for: Any, world: dict[str, Any], role: str
) -> None:
    response = await system_inprocess.inventory.get(
        f"/v1/subscriptions/{world['subscription']}", headers=_headers(token_for, role))
    allowed = {"it", "auditor", "head-a", "holder"}
    assert response.status_code == (200 if role in allowed else 403), (role, response.text)
    listing = await system_inprocess.inventory.get("/v1/subscriptions", params={"limit": 500},
                                                   headers=_headers(token_for, role))
    if role == "mdm":
        assert listing.status_code == 403
        return
    ids = {s["subscription_id"] for s in listing.json()["items"]}
    assert (world["subscription"] in ids) == (role in allowed), role


WRITES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/models", {"model_id": "x"}),
    ("PUT", "/v1/models/x", {}),
    ("POST", "/v1/required-apps", {}),
    ("PUT", "/v1/required-apps/x", {}),
    ("POST", "/v1/devices", {}),
    ("POST", "/v1/devices/bulk", {}),
    ("POST", "/v1/devices/import", None),
    ("POST", "/v1/devices/{spare}/issue", {}),
    ("POST", "/v1/devices/{personal}/check-in", {}),
    ("POST", "/v1/devices/{personal}/restock", {}),
    ("POST", "/v1/devices/{personal}/repair", {}),
    ("POST", "/v1/devices/{personal}/hand-over", {}),
    ("POST", "/v1/devices/{personal}/wipe", None),
    ("POST", "/v1/sims", {}),
    ("POST", "/v1/numbers", {}),
    ("POST", "/v1/subscriptions/{subscription}/activate", {}),
    ("POST", "/v1/sweeps/consumed", None),
    ("GET", "/v1/fulfilment/{order}", None),
    ("GET", "/v1/compliance/findings", None),
]


@pytest.mark.parametrize("role", [r for r in ROLES if r != "it"])
@pytest.mark.parametrize(("method", "path", "body"), WRITES)
async def test_only_it_service_manages_the_register(
        system_inprocess: RunningSystem, token_for: Any, world: dict[str, Any], role: str,
        method: str, path: str, body: Any) -> None:
    url = path.format(**world)
    response = await system_inprocess.inventory.request(
        method, url, json=body, headers=_headers(token_for, role))
    # The auditor reads fulfilment and findings; nobody but IT service changes anything.
    expected = 200 if role == "auditor" and method == "GET" else 403
    assert response.status_code == expected, (role, method, url, response.text)
    anonymous = await system_inprocess.inventory.request(method, url, json=body)
    assert anonymous.status_code == 401


@pytest.mark.parametrize("role", [r for r in ROLES if r != "mdm"])
async def test_compliance_reports_take_only_the_mdms_credentials(
        system_inprocess: RunningSystem, token_for: Any, role: str) -> None:
    response = await system_inprocess.inventory.post(
        "/v1/mdm/compliance-reports", headers=_headers(token_for, role),
        json={"report_id": "x", "devices": [{"imei": "1"}]})
    assert response.status_code == 403, role
