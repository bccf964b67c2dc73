"""Helpers for the inventory tests (no tests here): identifiers that pass their check digits,
events injected through the system's own transport, and the IT-service steps every flow needs.

Tests change inventory only through its HTTP API and through events; they read its outbox and
audit log (never write them) to check what was published and recorded. The race tests, which
need a transaction held open, call the service functions behind those instead (`IT_USER`,
`a_model`, `delivery`).
"""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.inventory import ports, service
from services.inventory.domain import TERMS_SHA256, luhn_valid
from services.inventory.schemas import DeviceItem, DeviceModelCreate
from shared.auth import User
from shared.db import transaction
from shared.events.base import Envelope, Event, encode, wrap
from shared.events.catalogue import OrderApproved, OrderLine
from tests.system import RunningSystem, eventually

IT = ("it-1", "it-service")


def _with_check_digit(body: str) -> str:
    for digit in "0123456789":
        if luhn_valid(body + digit):
            return body + digit
    raise AssertionError("unreachable")


def imei() -> str:
    return _with_check_digit("35" + "".join(random.choices("0123456789", k=12)))


def iccid() -> str:
    return _with_check_digit("8946" + "".join(random.choices("0123456789", k=14)))


def msisdn() -> str:
    return "+4670" + "".join(random.choices("0123456789", k=7))


def serial() -> str:
    return f"SN{uuid.uuid4().hex[:12].upper()}"


def token(token_for: Any, sub: str = "it-1", *roles: str) -> dict[str, str]:
    return token_for(sub, *(roles or ("it-service",)))  # type: ignore[no-any-return]


async def publish(system: RunningSystem, event: Event, subject: str | None = None) -> Envelope:
    """Inject an event as its producer would: through the system's transport (either kind),
    with the id of the object it is about as its subject."""
    if subject is None:
        subject = next(str(getattr(event, name)) for name in (
            "order_id", "loss_id", "return_case_id", "device_id", "unit_id")
            if getattr(event, name, None) is not None)
    envelope = wrap(event, subject=subject)
    transport = system.apps["orders"].state.runtime.transport
    await transport.publish(event.routing_key(), encode(envelope), message_id=envelope.id,
                            headers={})
    return envelope


async def create_model(system: RunningSystem, headers: dict[str, str], **overrides: Any
                       ) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_id": f"m-{uuid.uuid4().hex[:10]}", "manufacturer": "Samsung",
        "model": "Galaxy XCover7", "kind": "phone", "tier": "robust", "platform": "android",
        "security_updates_end": (date.today() + timedelta(days=900)).isoformat(),
        "max_os_version": "16"}
    body.update(overrides)
    response = await system.inventory.post("/v1/models", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def receive(system: RunningSystem, headers: dict[str, str], model_id: str, count: int = 1,
                  **extra: Any) -> list[str]:
    items = [{"model_id": model_id, "serial_number": serial(), "imei": imei(),
              "os_version": "14"} for _ in range(count)]
    body = {"devices": items, "intake_exception": "Stock purchase, framework agreement 2026"}
    body.update(extra)
    response = await system.inventory.post("/v1/devices/bulk", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return [str(i) for i in response.json()["device_ids"]]


async def stock_sims(system: RunningSystem, headers: dict[str, str], count: int = 1) -> None:
    sims = await system.inventory.post("/v1/sims", json={"iccids": [iccid() for _ in range(
        count)]}, headers=headers)
    numbers = await system.inventory.post("/v1/numbers", json={"numbers": [
        msisdn() for _ in range(count)]}, headers=headers)
    assert sims.status_code == 200 and numbers.status_code == 200, (sims.text, numbers.text)


def approved(*lines: OrderLine, person: str | None = "emp-1", unit: str = "SOC-HT"
             ) -> OrderApproved:
    return OrderApproved(order_id=uuid.uuid4(), unit_id=unit, cost_centre="41230",
                         recipient_person_id=person, lines=lines, approved_by="head-1")


def phone_line(model_id: str, quantity: int = 1) -> OrderLine:
    return OrderLine(catalogue_item_id="phone-robust", kind="phone", tier="robust",
                     quantity=quantity, model_id=model_id)


# rule O3: a device reserved for no approved order is issued only on IT service's exception.
NO_ORDER = "Issued without an order: the test's own recorded exception (rule O3)"


def acknowledgement(person: str) -> dict[str, Any]:
    return {"person_id": person, "accepted": True, "terms_sha256": TERMS_SHA256}


async def device(system: RunningSystem, headers: dict[str, str], device_id: str
                 ) -> dict[str, Any]:
    response = await system.inventory.get(f"/v1/devices/{device_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def until_state(system: RunningSystem, headers: dict[str, str], device_id: str,
                      state: str) -> dict[str, Any]:
    result = await eventually(lambda: device(system, headers, device_id),
                              lambda d: d["state"] == state)
    assert result["state"] == state, result
    return result


async def fulfilment(system: RunningSystem, headers: dict[str, str], order_id: uuid.UUID
                     ) -> httpx.Response:
    return await system.inventory.get(f"/v1/fulfilment/{order_id}", headers=headers)


async def until_fulfilment(system: RunningSystem, headers: dict[str, str], order_id: uuid.UUID,
                           states: list[str]) -> dict[str, Any]:
    response = await eventually(
        lambda: fulfilment(system, headers, order_id),
        lambda r: r.status_code == 200 and [li["state"] for li in r.json()["lines"]] == states)
    assert response.status_code == 200, response.text
    assert [li["state"] for li in response.json()["lines"]] == states, response.json()
    return response.json()  # type: ignore[no-any-return]


async def outbox(system: RunningSystem, routing_key: str, subject: str | None = None
                 ) -> list[dict[str, Any]]:
    """The envelopes inventory wrote for publication (read-only)."""
    sessions = system.apps["inventory"].state.sessions
    session: AsyncSession
    async with sessions() as session:
        rows = await session.execute(text(
            "SELECT envelope FROM inventory.outbox WHERE routing_key = :k "
            "AND (CAST(:s AS text) IS NULL OR envelope->>'subject' = :s) ORDER BY id"),
            {"k": routing_key, "s": subject})
        return [row[0] for row in rows]


async def audit_of(system: RunningSystem, object_type: str, object_id: str
                   ) -> list[dict[str, Any]]:
    """Inventory's audit entries of one object, oldest first (read-only)."""
    session: AsyncSession
    async with system.apps["inventory"].state.sessions() as session:
        rows = await session.execute(text(
            "SELECT actor, action, before, after FROM inventory.audit_log "
            "WHERE object_type = :t AND object_id = :i ORDER BY id"),
            {"t": object_type, "i": object_id})
        return [dict(row._mapping) for row in rows]


def mdm() -> ports.MdmSimulator:
    simulator = ports.mdm()
    assert isinstance(simulator, ports.MdmSimulator)
    return simulator


def operator() -> ports.OperatorSimulator:
    simulator = ports.operator()
    assert isinstance(simulator, ports.OperatorSimulator)
    return simulator


async def processed(system: RunningSystem, *event_ids: str) -> None:
    """Wait until inventory's inbox holds these event ids (they were applied, or deduplicated)."""
    sessions = system.apps["inventory"].state.sessions

    async def count() -> int:
        session: AsyncSession
        async with sessions() as session:
            return int((await session.execute(text(
                "SELECT count(*) FROM inventory.inbox WHERE event_id = ANY(:ids)"),
                {"ids": list(event_ids)})).scalar_one())

    assert await eventually(count, lambda n: n == len(set(event_ids))) == len(set(event_ids))


async def stock_until(system: RunningSystem, headers: dict[str, str], order_id: uuid.UUID,
                      states: list[str], rounds: int = 60) -> dict[str, Any]:
    """Register SIMs and numbers until the order's lines reach `states`.

    Other tests' approved orders may be waiting for SIMs too and are filled first (oldest
    first), so one SIM is not necessarily ours: keep delivering, as IT service would.
    """
    arrived = await eventually(lambda: fulfilment(system, headers, order_id),
                               lambda r: r.status_code == 200)
    assert arrived.status_code == 200, arrived.text
    body: dict[str, Any] = arrived.json()
    for _ in range(rounds):
        if [line["state"] for line in body["lines"]] == states:
            return body
        await stock_sims(system, headers, 5)
        body = (await fulfilment(system, headers, order_id)).json()
    raise AssertionError(f"order {order_id} never reached {states}: {body}")


# --- for the race tests (tests/support/races.py): the service functions behind the HTTP API ----

IT_USER = User("it-1", frozenset({"it-service"}))


async def a_model(sessions: async_sessionmaker[AsyncSession]) -> str:
    """A phone model, registered as POST /v1/models registers one."""
    model_id = f"m-{uuid.uuid4().hex[:10]}"
    async with transaction(sessions) as session:
        await service.create_model(session, actor=IT_USER, data=DeviceModelCreate(
            model_id=model_id, manufacturer="Samsung", model="Galaxy XCover7", kind="phone",
            tier="robust", platform="android",
            security_updates_end=date.today() + timedelta(days=900), max_os_version="16"))
    return model_id


def delivery(model_id: str) -> list[DeviceItem]:
    return [DeviceItem(model_id=model_id, serial_number=serial(), imei=imei(), os_version="14")]
