"""Helpers for the private-use (P1, P3) and policy (B5, R1) tests: a unit with a head, an employee
with a manager and a phone (inventory's events injected through the transport), and the
agreement's steps through the HTTP API as the portal calls them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from shared.events.catalogue import SubscriptionActivated
from tests.lifecycle_helpers import (
    hire,
    hr_send,
    inject,
    issued,
    minutes,
    new_id,
)
from tests.system import RunningSystem, eventually

OWNER = ("go-1", "guideline-owner")
AGREEMENTS = "/v1/private-use/agreements"


@dataclass(frozen=True)
class Staff:
    unit: str
    head: str
    manager: str
    person: str
    phone: uuid.UUID
    subscription: uuid.UUID
    administration: str


async def register(client: httpx.AsyncClient, unit: str, head: str | None, *,
                   administration: str = "Socialförvaltningen", parent: str | None = None,
                   at: int = 0) -> None:
    response = await hr_send(client, "unit.registered", {
        "unit_id": unit, "name": f"Enhet {unit}", "administration": administration,
        "cost_centre": "41230", "head_person_id": head, "parent_unit_id": parent},
        recorded_at=minutes(at))
    assert response.status_code == 200, response.text


async def give_phone(system: RunningSystem, token_for: Any, person: str, unit: str, *,
                     kind: str = "phone") -> tuple[uuid.UUID, uuid.UUID]:
    """A phone issued to the person, and its subscription, as inventory announces them."""
    phone, subscription = uuid.uuid4(), uuid.uuid4()
    await inject(system, SubscriptionActivated(
        subscription_id=subscription, phone_number="070-1234567", unit_id=unit,
        holder_person_id=person, device_id=phone))
    await inject(system, issued(phone, person, unit, kind))

    async def probe() -> list[Any]:
        response = await system.lifecycle.get(f"/v1/people/{person}/holdings",
                                              headers=token_for("it-1", "it-service"))
        return response.json() if response.status_code == 200 else []

    await wait_for(probe, lambda held: any(
        h["device_id"] == str(phone) and h["subscription_ids"] == [str(subscription)]
        for h in held))
    return phone, subscription


async def staff(system: RunningSystem, token_for: Any, *, administration: str | None = None,
                parent: str | None = None) -> Staff:
    client = system.lifecycle
    unit, head, manager, person = new_id("SOC"), new_id("H"), new_id("M"), new_id("E")
    administration = administration or f"Förvaltning {new_id('F')}"
    await register(client, unit, head, administration=administration, parent=parent)
    await hire(client, person, unit, manager, recorded_at=minutes(0))
    phone, subscription = await give_phone(system, token_for, person, unit)
    return Staff(unit, head, manager, person, phone, subscription, administration)


def as_(token_for: Any, who: str, role: str = "employee") -> dict[str, str]:
    return token_for(who, role)  # type: ignore[no-any-return]


async def ask(system: RunningSystem, token_for: Any, s: Staff, *, by: str | None = None,
              device: uuid.UUID | None = None) -> httpx.Response:
    return await system.lifecycle.post(AGREEMENTS, headers=as_(token_for, by or s.person), json={
        "person_id": s.person, "device_id": str(device or s.phone),
        "motivation": "On call in the evenings"})


async def requested(system: RunningSystem, token_for: Any, s: Staff) -> dict[str, Any]:
    response = await ask(system, token_for, s)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def approved(system: RunningSystem, token_for: Any, s: Staff) -> dict[str, Any]:
    agreement = await requested(system, token_for, s)
    response = await system.lifecycle.post(
        f"{AGREEMENTS}/{agreement['agreement_id']}/approval",
        headers=as_(token_for, s.head, "department-head"), json={})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def signature(agreement: dict[str, Any]) -> dict[str, Any]:
    terms = agreement["terms_to_sign"]
    return {"terms_version": terms["version"], "terms_sha256": terms["sha256"],
            "accepted": True}


async def active(system: RunningSystem, token_for: Any, s: Staff) -> dict[str, Any]:
    agreement = await approved(system, token_for, s)
    response = await system.lifecycle.post(
        f"{AGREEMENTS}/{agreement['agreement_id']}/signature", headers=as_(token_for, s.person),
        json=signature(agreement))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def agreement_of(system: RunningSystem, token_for: Any, agreement_id: str
                       ) -> dict[str, Any]:
    response = await system.lifecycle.get(f"{AGREEMENTS}/{agreement_id}",
                                          headers=token_for("it-1", "it-service"))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def set_unit_rules(client: httpx.AsyncClient, token_for: Any, unit: str,
                         rules: dict[str, Any]) -> httpx.Response:
    return await client.put(f"/v1/policy/units/{unit}", headers=token_for(*OWNER),
                            json={"rules": rules, "note": "local rule (B5)"})


async def set_administration_rules(client: httpx.AsyncClient, token_for: Any,
                                   administration: str, rules: dict[str, Any]
                                   ) -> httpx.Response:
    return await client.put(f"/v1/policy/administrations/{administration}",
                            headers=token_for(*OWNER),
                            json={"rules": rules, "note": "administration rule (B5)"})


async def wait_for(probe: Any, until: Any) -> Any:
    result = await eventually(probe, until)
    assert until(result), result
    return result
