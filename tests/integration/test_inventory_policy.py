"""Inventory applies the guideline's policy lifecycle publishes (rules B5, P2, S1): the usage
import's cost split charges the employee for the policy's private-cost categories, and support
answers show the policy's support channels. The policy is changed through lifecycle's HTTP API as
the guideline owner; inventory learns it only from policy-changed, and an older version arriving
late changes nothing. Each test puts the municipal policy back afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from shared.events.catalogue import PolicyChanged, SupportChannel
from tests.integration.test_inventory_duties_helpers import (
    agreement,
    import_usage,
    issued_phone,
    label,
    suffix,
    this_month,
    unit,
    usage_csv,
)
from tests.integration.test_inventory_helpers import processed, publish
from tests.system import RunningSystem, eventually

OWNER = ("go-inventory", "guideline-owner")


async def _snapshot(system: RunningSystem) -> tuple[int, dict[str, Any]] | None:
    async with system.apps["inventory"].state.sessions() as session:
        row = (await session.execute(text(
            "SELECT policy_version, policy FROM inventory.policy_snapshot"))).first()
        return None if row is None else (row[0], row[1])


async def _until_inventory_has(system: RunningSystem, version: int) -> None:
    seen = await eventually(lambda: _snapshot(system),
                            lambda s: s is not None and s[0] >= version)
    assert seen is not None and seen[0] >= version, f"inventory never applied {version}"


async def _change(system: RunningSystem, token_for: Any, **parameters: Any) -> int:
    """A new municipal version through lifecycle, once inventory has applied it."""
    owner = token_for(*OWNER)
    now = (await system.lifecycle.get("/v1/policy", headers=owner)).json()
    response = await system.lifecycle.put("/v1/policy", headers=owner, json={
        "parameters": {**now["parameters"], **parameters},
        "based_on_version": now["policy_version"], "note": "inventory policy test"})
    assert response.status_code == 200, response.text
    version: int = response.json()["policy_version"]
    await _until_inventory_has(system, version)
    return version


@pytest.fixture(autouse=True)
async def _put_back(system: RunningSystem, token_for: Any) -> AsyncIterator[None]:
    owner = token_for(*OWNER)
    before = (await system.lifecycle.get("/v1/policy", headers=owner)).json()
    yield
    now = (await system.lifecycle.get("/v1/policy", headers=owner)).json()
    if now["parameters"] != before["parameters"]:
        await _change(system, token_for, **before["parameters"])


async def _world(system: RunningSystem, it: dict[str, str]) -> dict[str, Any]:
    s = suffix()
    unit_id, head, person, cost_centre = f"U-{s}", f"h-{s}", f"p-{s}", f"CC{s}"
    await unit(system, unit_id, head, cost_centre)
    phone = await issued_phone(system, it, person=person, unit_id=unit_id,
                               cost_centre=cost_centre)
    await agreement(system, person, valid_from=this_month() - timedelta(days=40))
    return {"person": person, **phone}


async def test_p2_the_cost_split_follows_the_policys_private_cost_categories(
        system: RunningSystem, token_for: Any) -> None:
    it = token_for("it-1", "it-service")
    w = await _world(system, it)
    # The guideline owner makes data a private cost and roaming the job's (a travel deal).
    await _change(system, token_for, private_cost_categories=[
        "domestic-data", "international-calls", "premium-services"])
    month = label(this_month())
    response = await import_usage(system, it, usage_csv(
        (w["msisdn"], month, "flat-fee", "149.00"), (w["msisdn"], month, "roaming", "89.50"),
        (w["msisdn"], month, "domestic-data", "40.00"),
        (w["msisdn"], month, "international-calls", "10.25")))
    assert response.status_code == 201, response.text
    body = response.json()
    assert Decimal(body["unit_sek"]) == Decimal("238.50")  # flat fee + roaming
    assert Decimal(body["employee_sek"]) == Decimal("50.25")  # data + international calls
    assert Decimal(body["flagged_sek"]) == 0 and body["flags"] == 0
    mine = await system.inventory.get(f"/v1/statements/people/{w['person']}",
                                      params={"period": month},
                                      headers=token_for(w["person"], "employee"))
    assert {(li["category"], li["charged_to"]) for li in mine.json()["lines"]} == {
        ("domestic-data", "employee"), ("international-calls", "employee")}


async def test_s1_support_answers_show_the_policys_support_channels(
        system: RunningSystem, token_for: Any) -> None:
    me = token_for(f"p-{suffix()}", "employee")
    await _change(system, token_for, support_channels=[
        {"kind": "portal", "value": "https://support.varnamo.se"},
        {"kind": "phone", "value": "0370-377000"}, {"kind": "phone", "value": "0370-377001"},
        {"kind": "visit", "value": "Kontaktcenter, Stadshuset"}])
    expected = {"portal": "https://support.varnamo.se", "phone": "0370-377000 / 0370-377001",
                "visit": "Kontaktcenter, Stadshuset"}
    response = await system.inventory.get("/v1/support/channels", headers=me)
    assert response.status_code == 200 and response.json() == expected, response.text
    case = await system.inventory.post("/v1/support/cases", headers=me, json={
        "category": "email", "description": "Mail does not sync"})
    assert case.status_code == 201 and case.json()["channels"] == expected, case.text
    again = await system.inventory.get(f"/v1/support/cases/{case.json()['case_id']}",
                                       headers=me)
    assert again.json()["channels"] == expected


async def test_b5_an_older_policy_version_arriving_late_changes_nothing(
        system: RunningSystem, token_for: Any) -> None:
    it = token_for("it-1", "it-service")
    w = await _world(system, it)
    version = await _change(system, token_for, private_cost_categories=["roaming"],
                            support_channels=[{"kind": "phone", "value": "0370-377999"}])
    snapshot = await _snapshot(system)
    assert snapshot is not None
    current = PolicyChanged.model_validate(snapshot[1])
    stale = current.model_copy(update={"policy_version": version - 1, "municipal": (
        current.municipal.model_copy(update={
            "private_cost_categories": ("flat-fee",),
            "support_channels": (SupportChannel(kind="phone", value="112"),)}))})
    envelope = await publish(system, stale, subject="policy")  # later event, older version
    await processed(system, envelope.id)

    assert await _snapshot(system) == snapshot
    channels = (await system.inventory.get("/v1/support/channels",
                                           headers=token_for("e-1", "employee"))).json()
    assert channels["phone"] == "0370-377999"  # portal and visit: not named, configuration's
    month = label(this_month())
    response = await import_usage(system, it, usage_csv(
        (w["msisdn"], month, "flat-fee", "149.00"), (w["msisdn"], month, "roaming", "89.50")))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (Decimal(body["unit_sek"]), Decimal(body["employee_sek"])) == (
        Decimal("149.00"), Decimal("89.50"))
