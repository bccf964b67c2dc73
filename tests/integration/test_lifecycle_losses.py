"""Loss reports (rule U9) through HTTP and events: the report links the intranet instruction
and announces loss-reported; inventory's device-lost shows what was done; a lost device's return
case is not escalated; the device back in inventory's hands closes the loss as found."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from tests.lifecycle_helpers import (
    IT,
    end,
    hire,
    inject,
    issued,
    lost,
    minutes,
    new_id,
    outbox,
    returned,
    wait_cases,
    wait_holding,
)
from tests.system import RunningSystem, eventually


async def test_u9_the_holder_reports_a_loss_and_inventory_secures_the_device(
        system: RunningSystem, token_for: Any) -> None:
    person, manager, phone = new_id("E"), new_id("M"), uuid.uuid4()
    await hire(system.lifecycle, person, "SOC-A", manager, recorded_at=minutes(0))
    await inject(system, issued(phone, person, "SOC-A"))
    await wait_holding(system, token_for, person, phone)
    await end(system.lifecycle, person, "SOC-A", date(2020, 3, 1), recorded_at=minutes(1))
    [case] = await wait_cases(system, token_for, person, 1)

    reported = await system.lifecycle.post(
        "/v1/losses", headers=token_for(person, "employee"),
        json={"device_id": str(phone), "circumstances": "Left on the bus",
              "lost_on": "2020-02-28"})
    assert reported.status_code == 201, reported.text
    loss = reported.json()
    assert loss["instruction_url"].startswith("https://")
    assert (loss["status"], loss["person_id"], loss["reported_by"]) == ("open", person, person)
    [event] = await outbox(system, "lifecycle.loss-reported.v1", str(phone))
    assert (event["loss_id"], event["instruction_url"]) == (loss["loss_id"],
                                                          loss["instruction_url"])
    twice = await system.lifecycle.post("/v1/losses", headers=token_for(manager, "employee"),
                                        json={"device_id": str(phone)})
    assert twice.status_code == 409

    await inject(system, lost(phone, person, uuid.UUID(loss["loss_id"])))

    async def loss_now() -> dict[str, Any]:
        response = await system.lifecycle.get(f"/v1/losses/{loss['loss_id']}",
                                              headers=token_for(person, "employee"))
        return response.json()  # type: ignore[no-any-return]

    secured = await eventually(loss_now, lambda found: found["sim_blocked"] is not None)
    assert (secured["sim_blocked"], secured["mdm_action"]) == (True, "lost-mode")
    run = await system.lifecycle.post("/v1/return-cases/escalations",
                                      params={"as_of": "2020-03-05"}, headers=token_for(*IT))
    assert case["case_id"] not in {e["case_id"] for e in run.json()["escalated"]}

    await inject(system, returned(phone, person, "SOC-A"))  # found and handed in to IT
    found = await eventually(loss_now, lambda found: found["status"] == "found")
    assert found["status"] == "found" and found["closed_at"]
    await wait_cases(system, token_for, person, 1, "completed")


LossView = Callable[[], Awaitable[dict[str, Any]]]


async def _reported_loss(system: RunningSystem, token_for: Any, person: str, manager: str,
                         phone: uuid.UUID) -> tuple[dict[str, Any], LossView]:
    """`person` of SOC-A holds `phone` and reports it lost: the loss, and its view by the manager
    as it now stands."""
    await hire(system.lifecycle, person, "SOC-A", manager, recorded_at=minutes(0))
    await inject(system, issued(phone, person, "SOC-A"))
    await wait_holding(system, token_for, person, phone)
    reported = await system.lifecycle.post("/v1/losses", headers=token_for(person, "employee"),
                                           json={"device_id": str(phone)})
    assert reported.status_code == 201, reported.text
    loss_id = reported.json()["loss_id"]

    async def loss_now() -> dict[str, Any]:
        response = await system.lifecycle.get(f"/v1/losses/{loss_id}",
                                              headers=token_for(manager, "employee"))
        return response.json()  # type: ignore[no-any-return]

    return reported.json(), loss_now


async def test_u9_the_loss_case_shows_the_replacement_inventory_issued(
        system: RunningSystem, token_for: Any) -> None:
    """rule U9's replacement path: inventory's device-issued names the lost device it replaces;
    the holder's open loss case shows the replacement and stays open until the device turns up."""
    person, manager = new_id("E"), new_id("M")
    phone, replacement = uuid.uuid4(), uuid.uuid4()
    loss, loss_now = await _reported_loss(system, token_for, person, manager, phone)
    assert loss["replacement_device_id"] is None
    await inject(system, lost(phone, person, uuid.UUID(loss["loss_id"])))

    await inject(system, issued(replacement, person, "SOC-A", replaces=phone))
    shown = await eventually(loss_now, lambda loss: loss["replacement_device_id"] is not None)
    assert (shown["replacement_device_id"], shown["status"]) == (str(replacement), "open")
    await wait_holding(system, token_for, person, replacement)

    await inject(system, returned(phone, person, "SOC-A"))  # the lost one turns up after all
    found = await eventually(loss_now, lambda loss: loss["status"] == "found")
    assert found["replacement_device_id"] == str(replacement)


async def test_u9_a_replacement_applied_after_the_device_turned_up_still_shows(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """Events of two devices are applied in any order: the replacement's device-issued, applied
    after the lost device's return closed the loss as found, still lands on that loss."""
    system, person, manager = system_inprocess, new_id("E"), new_id("M")
    phone, replacement = uuid.uuid4(), uuid.uuid4()
    _, loss_now = await _reported_loss(system, token_for, person, manager, phone)
    await inject(system, returned(phone, person, "SOC-A"))
    await eventually(loss_now, lambda loss: loss["status"] == "found")
    await inject(system, issued(replacement, person, "SOC-A", replaces=phone))
    shown = await eventually(loss_now, lambda loss: loss["replacement_device_id"] is not None)
    assert (shown["replacement_device_id"], shown["status"]) == (str(replacement), "found")


async def test_u9_a_device_nobody_holds_cannot_be_reported_lost(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    response = await system_inprocess.lifecycle.post(
        "/v1/losses", headers=token_for(*IT), json={"device_id": str(uuid.uuid4())})
    assert response.status_code == 422 and "U9" in response.json()["detail"]


async def test_u8_u9_anyone_of_the_unit_may_report_its_shared_device_lost(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    unit, colleague, outsider, tablet = new_id("SOC"), new_id("E"), new_id("E"), uuid.uuid4()
    await hire(system_inprocess.lifecycle, colleague, unit, "M-1", recorded_at=minutes(0))
    await inject(system_inprocess, issued(tablet, None, unit, "tablet"))
    refused = await system_inprocess.lifecycle.post(
        "/v1/losses", headers=token_for(outsider, "employee"), json={"device_id": str(tablet)})
    assert refused.status_code == 403
    reported = await system_inprocess.lifecycle.post(
        "/v1/losses", headers=token_for(colleague, "employee"), json={"device_id": str(tablet)})
    assert reported.status_code == 201, reported.text
    assert (reported.json()["person_id"], reported.json()["unit_id"]) == (None, unit)
