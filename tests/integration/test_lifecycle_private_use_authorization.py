"""The authorization matrix of private use (rule P1), object by object: the employee, their
manager and the head of their unit for their own people; the head alone decides, the employee
alone signs; IT service and auditors read and change nothing; everyone else 403 (401 without a
token)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.lifecycle_helpers import hire, minutes, new_id
from tests.lifecycle_policy_helpers import (
    AGREEMENTS,
    Staff,
    as_,
    give_phone,
    register,
    signature,
    staff,
)
from tests.system import RunningSystem

CALLERS: dict[str, str] = {
    "person": "employee", "manager": "employee", "head": "department-head",
    "colleague": "employee", "other_head": "department-head", "orderer": "orderer",
    "it": "it-service", "auditor": "auditor", "owner": "guideline-owner",
}
PARTIES = {"person", "manager", "head"}
FULL = {"it", "auditor"}


@dataclass(frozen=True)
class World:
    s: Staff
    colleague: str
    other_head: str
    agreement_id: str

    def who(self, caller: str) -> str:
        named = {"person": self.s.person, "manager": self.s.manager, "head": self.s.head,
                 "colleague": self.colleague, "other_head": self.other_head}
        return named.get(caller, f"{caller}-1")


@pytest.fixture(scope="module")
async def world(system_inprocess: RunningSystem, token_for: Any) -> AsyncIterator[World]:
    system, client = system_inprocess, system_inprocess.lifecycle
    s = await staff(system, token_for)
    colleague, other_head = new_id("E"), new_id("H")
    await hire(client, colleague, s.unit, new_id("M"), recorded_at=minutes(0))
    await register(client, new_id("OTHER"), other_head)
    asked = await client.post(AGREEMENTS, headers=as_(token_for, s.person),
                              json={"person_id": s.person, "device_id": str(s.phone)})
    assert asked.status_code == 201, asked.text
    yield World(s, colleague, other_head, asked.json()["agreement_id"])


def headers(token_for: Any, world: World, caller: str) -> dict[str, str]:
    return as_(token_for, world.who(caller), CALLERS[caller])


READS: dict[str, tuple[str, set[str]]] = {
    "one agreement": (AGREEMENTS + "/{agreement_id}", PARTIES | FULL),
    "all agreements": (AGREEMENTS, FULL),
    "the person's agreements": ("/v1/people/{person}/private-use", PARTIES | FULL),
    "the manager's list": ("/v1/managers/{manager}/private-use", FULL | {"manager"}),
    "the head's list": ("/v1/managers/{head}/private-use", FULL | {"head"}),
}


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("what", list(READS))
async def test_p1_read_matrix(system_inprocess: RunningSystem, token_for: Any, world: World,
                              what: str, caller: str) -> None:
    template, allowed = READS[what]
    path = template.format(agreement_id=world.agreement_id, person=world.s.person,
                           manager=world.s.manager, head=world.s.head)
    response = await system_inprocess.lifecycle.get(path, headers=headers(token_for, world,
                                                                          caller))
    assert response.status_code == (200 if caller in allowed else 403), response.text
    assert (await system_inprocess.lifecycle.get(path)).status_code == 401


async def in_state(system: RunningSystem, token_for: Any, world: World, state: str
                   ) -> dict[str, Any]:
    """A new agreement of the person, on a new phone, brought to `state` by the right people."""
    client, s = system.lifecycle, world.s
    phone, _ = await give_phone(system, token_for, s.person, s.unit)
    response = await client.post(AGREEMENTS, headers=as_(token_for, s.person),
                                 json={"person_id": s.person, "device_id": str(phone)})
    agreement = response.json()
    url = f"{AGREEMENTS}/{agreement['agreement_id']}"
    if state in ("approved", "active"):
        agreement = (await client.post(url + "/approval",
                                       headers=as_(token_for, s.head, "department-head"))).json()
    if state == "active":
        agreement = (await client.post(url + "/signature", headers=as_(token_for, s.person),
                                       json=signature(agreement))).json()
    assert agreement["status"] == state, agreement
    return agreement  # type: ignore[no-any-return]


WRITES: dict[str, tuple[str | None, str, Any, set[str]]] = {
    # name: (state needed, step, body, who may)
    "ask": (None, "", None, PARTIES),
    "approve": ("requested", "/approval", {}, {"head"}),
    "refuse": ("requested", "/refusal", {"reason": "Not needed in the job"}, {"head"}),
    "sign": ("approved", "/signature", None, {"person"}),
    "end": ("active", "/end", None, {"person", "head"}),
    "withdraw": ("requested", "/end", None, PARTIES),
}


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("what", list(WRITES))
async def test_p1_write_matrix(system_inprocess: RunningSystem, token_for: Any, world: World,
                               what: str, caller: str) -> None:
    system, client = system_inprocess, system_inprocess.lifecycle
    state, step, body, allowed = WRITES[what]
    if state is None:
        phone, _ = await give_phone(system, token_for, world.s.person, world.s.unit)
        response = await client.post(AGREEMENTS, headers=headers(token_for, world, caller),
                                     json={"person_id": world.s.person, "device_id": str(phone)})
        assert response.status_code == (201 if caller in allowed else 403), response.text
        return
    agreement = await in_state(system, token_for, world, state)
    if what == "sign":
        body = signature(agreement)
    response = await client.post(f"{AGREEMENTS}/{agreement['agreement_id']}{step}",
                                 headers=headers(token_for, world, caller), json=body)
    assert response.status_code == (200 if caller in allowed else 403), response.text
    after = (await client.get(f"{AGREEMENTS}/{agreement['agreement_id']}",
                              headers=as_(token_for, world.s.person))).json()
    assert (after["status"] == state) is (caller not in allowed)  # a 403 changed nothing
