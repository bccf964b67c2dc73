"""The authorization matrix of the lifecycle API (object level, BOLA/BFLA): a person sees their
own, a manager their staff's, IT service everything, an auditor reads everything and changes
nothing, the HR webhook is HR's alone; every other combination is 403 (401 without a token)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.lifecycle_helpers import (
    HR_PATH,
    IT,
    hire,
    hr_body,
    inject,
    issued,
    minutes,
    new_id,
    register_unit,
    wait_holding,
)
from tests.system import RunningSystem


@dataclass(frozen=True)
class World:
    person: str  # holds the devices
    manager: str  # their nearest manager, an ordinary employee by role
    head: str  # head of their unit
    colleague: str  # same unit, no relation to the person
    other_head: str  # head of another unit
    unit: str
    case_id: str
    loss_id: str


CALLERS: dict[str, tuple[str, ...]] = {
    "person": ("employee",), "manager": ("employee",), "head": ("department-head",),
    "colleague": ("employee",), "other_head": ("department-head",),
    "orderer": ("orderer",), "it": ("it-service",), "auditor": ("auditor",),
}
READERS = {"person", "manager", "head", "it", "auditor"}
FULL = {"it", "auditor"}
ACTORS = {"person", "manager", "head", "it"}  # may hand in or report a loss of the device


@pytest.fixture(scope="module")
async def world(system_inprocess: RunningSystem, token_for: Any) -> AsyncIterator[World]:
    system, client = system_inprocess, system_inprocess.lifecycle
    w = World(person=new_id("E"), manager=new_id("M"), head=new_id("H"),
              colleague=new_id("E"), other_head=new_id("H"), unit=new_id("SOC"),
              case_id="", loss_id="")
    await register_unit(client, w.unit, w.head)
    await register_unit(client, new_id("OTHER"), w.other_head)
    await hire(client, w.person, w.unit, w.manager, recorded_at=minutes(0))
    await hire(client, w.colleague, w.unit, new_id("M"), recorded_at=minutes(0))
    handed, gone = await held(system, token_for, w.person), await held(system, token_for,
                                                                       w.person)
    case = await client.post("/v1/return-cases", headers=token_for(*IT),
                             json={"device_id": str(handed), "reason": "not-needed"})
    loss = await client.post("/v1/losses", headers=token_for(w.person, "employee"),
                             json={"device_id": str(gone)})
    assert case.status_code == 201 and loss.status_code == 201, (case.text, loss.text)
    yield World(**{**w.__dict__, "case_id": case.json()["case_id"],
                   "loss_id": loss.json()["loss_id"]})


async def held(system: RunningSystem, token_for: Any, person: str) -> uuid.UUID:
    device = uuid.uuid4()
    await inject(system, issued(device, person, "SOC-X"))
    await wait_holding(system, token_for, person, device)
    return device


def who(world: World, caller: str) -> str:
    return {"it": "it-1", "auditor": "aud-1", "orderer": "ord-1"}.get(
        caller, getattr(world, caller, caller))


READS: dict[str, tuple[str, set[str]]] = {
    "one return case": ("/v1/return-cases/{case_id}", READERS),
    "all return cases": ("/v1/return-cases", FULL),
    "the person's return cases": ("/v1/people/{person}/return-cases", READERS),
    "the manager's return cases": ("/v1/managers/{manager}/return-cases",
                                   FULL | {"manager"}),
    "the person": ("/v1/people/{person}", READERS),
    "the person's holdings": ("/v1/people/{person}/holdings", READERS),
    "the person's losses": ("/v1/people/{person}/losses", READERS),
    "one loss": ("/v1/losses/{loss_id}", READERS),
    "all losses": ("/v1/losses", FULL),
    "HR deliveries": ("/v1/hr/events", FULL),
}


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("what", list(READS))
async def test_read_matrix(system_inprocess: RunningSystem, token_for: Any, world: World,
                           what: str, caller: str) -> None:
    path, allowed = READS[what]
    response = await system_inprocess.lifecycle.get(
        path.format(**world.__dict__), headers=token_for(who(world, caller), *CALLERS[caller]))
    expected = 200 if caller in allowed else 403
    assert response.status_code == expected, response.text
    anonymous = await system_inprocess.lifecycle.get(path.format(**world.__dict__))
    assert anonymous.status_code == 401


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("what", ["hand in", "report lost"])
async def test_u9_c3_write_matrix_for_the_persons_device(
        system_inprocess: RunningSystem, token_for: Any, world: World, what: str, caller: str
) -> None:
    device = await held(system_inprocess, token_for, world.person)
    path, body = {"hand in": ("/v1/return-cases", {"reason": "not-needed"}),
                  "report lost": ("/v1/losses", {})}[what]
    response = await system_inprocess.lifecycle.post(
        path, json={"device_id": str(device), **body},
        headers=token_for(who(world, caller), *CALLERS[caller]))
    assert response.status_code == (201 if caller in ACTORS else 403), response.text


@pytest.mark.parametrize("caller", list(CALLERS))
async def test_u7_only_it_service_runs_the_escalation(
        system_inprocess: RunningSystem, token_for: Any, world: World, caller: str) -> None:
    response = await system_inprocess.lifecycle.post(
        "/v1/return-cases/escalations", params={"as_of": "2000-01-01"},
        headers=token_for(who(world, caller), *CALLERS[caller]))
    assert response.status_code == (200 if caller == "it" else 403), response.text


@pytest.mark.parametrize("caller", list(CALLERS))
async def test_the_hr_webhook_is_hrs_alone(system_inprocess: RunningSystem, token_for: Any,
                                           world: World, caller: str) -> None:
    """A bearer token, of any role, is no HR signature; and HR's signature opens nothing else."""
    body = hr_body("employee.hired", {"person_id": new_id("E"), "unit_id": world.unit,
                                      "start_date": "2026-01-01"})
    response = await system_inprocess.lifecycle.post(
        HR_PATH, content=body, headers=token_for(who(world, caller), *CALLERS[caller]))
    assert response.status_code == 401, response.text


async def test_hr_signature_is_not_a_credential_for_the_rest_of_the_api(
        system_inprocess: RunningSystem, world: World) -> None:
    from tests.lifecycle_helpers import signed

    for path in ("/v1/return-cases", f"/v1/people/{world.person}", "/v1/hr/events"):
        response = await system_inprocess.lifecycle.get(path, headers=signed(b""))
        assert response.status_code == 401, path
