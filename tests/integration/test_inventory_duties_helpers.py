"""Helpers for the tests of usage and costs (P2), support and repair (S1–S5) and fixed telephony
(B4, U1–U3) — no tests here. Like test_inventory_helpers: inventory changes only through its HTTP
API and through events injected on the system's own transport."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from services.inventory.records import today
from shared.events.catalogue import (
    EmployeeHired,
    OrderLine,
    PrivateUseApproved,
    PrivateUseEnded,
    UnitRegistered,
)
from tests.integration.test_inventory_helpers import (
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


def this_month() -> date:
    return today().replace(day=1)


def label(period: date) -> str:
    return f"{period.year:04d}-{period.month:02d}"


def suffix() -> str:
    return uuid.uuid4().hex[:6].upper()


async def unit(system: RunningSystem, unit_id: str, head: str | None, cost_centre: str,
               parent: str | None = None) -> None:
    envelope = await publish(system, UnitRegistered(
        unit_id=unit_id, name=unit_id, administration="Socialförvaltningen",
        parent_unit_id=parent, cost_centre=cost_centre, head_person_id=head))
    await processed(system, envelope.id)


async def hired(system: RunningSystem, person: str, unit_id: str, manager: str | None) -> None:
    envelope = await publish(system, EmployeeHired(
        person_id=person, unit_id=unit_id, nearest_manager_id=manager,
        start_date=today() - timedelta(days=30)), subject=person)
    await processed(system, envelope.id)


async def agreement(system: RunningSystem, person: str, *, valid_from: date,
                    subscription_id: str | None = None, head: str = "head-1") -> uuid.UUID:
    agreement_id = uuid.uuid4()
    envelope = await publish(system, PrivateUseApproved(
        agreement_id=agreement_id, person_id=person, approved_by=head, valid_from=valid_from,
        subscription_id=uuid.UUID(subscription_id) if subscription_id else None),
        subject=str(agreement_id))
    await processed(system, envelope.id)
    return agreement_id


async def agreement_ended(system: RunningSystem, agreement_id: uuid.UUID, person: str,
                          ended_on: date) -> None:
    envelope = await publish(system, PrivateUseEnded(
        agreement_id=agreement_id, person_id=person, reason="revoked", ended_on=ended_on),
        subject=str(agreement_id))
    await processed(system, envelope.id)


async def issued_phone(system: RunningSystem, it: dict[str, str], *, person: str | None,
                       unit_id: str, cost_centre: str = "41230", with_subscription: bool = True
                       ) -> dict[str, Any]:
    """A phone issued through an approved order of `unit_id` paid by `cost_centre` — to `person`,
    or shared by the unit when person is None — with an active subscription:
    {device_id, model_id, subscription_id, msisdn}."""
    model = await create_model(system, it)
    (device_id,) = await receive(system, it, model["model_id"])
    lines = [phone_line(model["model_id"])]
    if with_subscription:
        lines.append(OrderLine(catalogue_item_id="sub", kind="subscription"))
    order = approved(*lines, person=person, unit=unit_id).model_copy(
        update={"cost_centre": cost_centre})
    await publish(system, order)
    await stock_until(system, it, order.order_id, ["reserved"] * len(lines))
    holder = ({"holder_person_id": person} if person else {"holder_unit_id": unit_id})
    response = await system.inventory.post(f"/v1/devices/{device_id}/issue", headers=it, json={
        **holder, "acknowledgement": acknowledgement(person or "p-receiver")})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = {"device_id": device_id, "model_id": model["model_id"]}
    if with_subscription:
        (subscription,) = response.json()["subscriptions"]
        result |= {"subscription_id": subscription["subscription_id"],
                   "msisdn": subscription["msisdn"]}
    return result


def usage_csv(*rows: tuple[str, str, str, str], delimiter: str = ",") -> bytes:
    header = delimiter.join(("number", "period", "category", "amount_sek"))
    return ("\n".join([header, *(delimiter.join(r) for r in rows)]) + "\n").encode()


async def import_usage(system: RunningSystem, it: dict[str, str], content: bytes,
                       filename: str = "operator.csv") -> Any:
    return await system.inventory.post(
        "/v1/usage/imports", content=content, params={"filename": filename},
        headers={**it, "content-type": "text/csv"})
