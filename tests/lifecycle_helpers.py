"""Helpers for the lifecycle tests: HR as an outside program signing its webhooks, and
inventory's events injected through the system's transport (never into lifecycle's tables)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from shared.events.base import Event, encode, wrap
from shared.events.catalogue import DeviceIssued, DeviceLost, DeviceReturned
from shared.messaging.transport import PublishFailed
from shared.settings import DEV_HR_WEBHOOK_SECRET
from tests.system import RunningSystem, eventually

HR_PATH = "/v1/hr/events"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def signed(body: bytes, *, webhook_id: str | None = None, secret: str = DEV_HR_WEBHOOK_SECRET,
           sent_at: datetime | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers, as HR's sender computes them."""
    msg_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    when = sent_at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, when, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": signature, "content-type": "application/json"}


def hr_body(event_type: str, data: dict[str, Any], *, recorded_at: datetime | None = None
            ) -> bytes:
    payload = {"type": event_type, "timestamp": (recorded_at or datetime.now(UTC)).isoformat(),
               "data": data}
    return json.dumps(payload, default=str).encode()


async def hr_send(client: httpx.AsyncClient, event_type: str, data: dict[str, Any], *,
                  recorded_at: datetime | None = None, webhook_id: str | None = None,
                  secret: str = DEV_HR_WEBHOOK_SECRET) -> httpx.Response:
    body = hr_body(event_type, data, recorded_at=recorded_at)
    return await client.post(HR_PATH, content=body,
                             headers=signed(body, webhook_id=webhook_id, secret=secret))


async def hire(client: httpx.AsyncClient, person: str, unit: str, manager: str | None, *,
               start: date = date(2024, 1, 1), recorded_at: datetime | None = None,
               secret: str = DEV_HR_WEBHOOK_SECRET) -> httpx.Response:
    response = await hr_send(client, "employee.hired", {
        "person_id": person, "unit_id": unit, "nearest_manager_id": manager,
        "start_date": start.isoformat()}, recorded_at=recorded_at, secret=secret)
    assert response.status_code == 200, response.text
    return response


async def end(client: httpx.AsyncClient, person: str, unit: str, last_day: date,
              manager: str | None = None, *, recorded_at: datetime | None = None,
              secret: str = DEV_HR_WEBHOOK_SECRET) -> httpx.Response:
    data: dict[str, Any] = {"person_id": person, "unit_id": unit,
                            "last_day": last_day.isoformat()}
    if manager:
        data["nearest_manager_id"] = manager
    response = await hr_send(client, "employment.ended", data, recorded_at=recorded_at,
                             secret=secret)
    assert response.status_code == 200, response.text
    return response


async def transfer(client: httpx.AsyncClient, person: str, from_unit: str, to_unit: str,
                   new_manager: str | None, effective: date, *,
                   recorded_at: datetime | None = None) -> httpx.Response:
    response = await hr_send(client, "employee.transferred", {
        "person_id": person, "from_unit_id": from_unit, "to_unit_id": to_unit,
        "nearest_manager_id": new_manager, "effective_date": effective.isoformat()},
        recorded_at=recorded_at)
    assert response.status_code == 200, response.text
    return response


async def register_unit(client: httpx.AsyncClient, unit: str, head: str | None,
                        parent: str | None = None) -> None:
    response = await hr_send(client, "unit.registered", {
        "unit_id": unit, "name": f"Enhet {unit}", "administration": "Socialförvaltningen",
        "cost_centre": "41230", "head_person_id": head, "parent_unit_id": parent})
    assert response.status_code == 200, response.text


# --- inventory's events, injected through the transport ------------------------------------


async def inject(system: RunningSystem, event: Event, *, at: datetime | None = None) -> str:
    """Publish `event` as inventory would, on the system's own transport; returns the id."""
    return await publish(system.apps["inventory"].state.runtime.transport, event, at=at)


async def publish(transport: Any, event: Event, *, at: datetime | None = None) -> str:
    """Publish until confirmed, as inventory's outbox relay does (the in-process transport
    reports a consumer's transient failure, e.g. a full PostgreSQL, as an unconfirmed publish)."""
    # The subject is the object the event is about, as the producer sets it: every event has one.
    key = "subscription_id" if event.event_name.startswith("subscription-") else "device_id"
    about = getattr(event, key, None)
    envelope = wrap(event, subject=str(about) if about else None)
    if at is not None:
        envelope = envelope.model_copy(update={"time": at})
    for attempt in range(20):
        try:
            await transport.publish(event.routing_key(), encode(envelope),
                                    message_id=envelope.id, headers={})
            return envelope.id
        except PublishFailed:
            if attempt == 19:
                raise
            await asyncio.sleep(0.25)
    raise AssertionError("unreachable")


def issued(device: uuid.UUID, person: str | None, unit: str, kind: str | None = "phone",
           replaces: uuid.UUID | None = None) -> DeviceIssued:
    return DeviceIssued(device_id=device, holder_person_id=person, unit_id=unit,
                        issued_by="it-desk", kind=kind,  # type: ignore[arg-type]
                        replaces_device_id=replaces)


def returned(device: uuid.UUID, person: str | None, unit: str,
             case_id: uuid.UUID | None = None) -> DeviceReturned:
    return DeviceReturned(device_id=device, from_person_id=person, unit_id=unit,
                          received_by="it-desk", return_case_id=case_id)


def lost(device: uuid.UUID, person: str | None, loss_id: uuid.UUID | None = None) -> DeviceLost:
    return DeviceLost(device_id=device, person_id=person, loss_id=loss_id, sim_blocked=True,
                      mdm_action="lost-mode")


IT = ("it-1", "it-service")


async def wait_holding(system: RunningSystem, token_for: Any, person: str, device: uuid.UUID,
                       present: bool = True) -> None:
    async def probe() -> list[str]:
        response = await system.lifecycle.get(f"/v1/people/{person}/holdings",
                                              headers=token_for(*IT))
        return [h["device_id"] for h in response.json()] if response.status_code == 200 else []

    found = await eventually(probe, lambda ids: (str(device) in ids) == present)
    assert (str(device) in found) == present, found


async def cases_of(system: RunningSystem, token_for: Any, person: str, status: str = "all"
                   ) -> list[dict[str, Any]]:
    response = await system.lifecycle.get(f"/v1/people/{person}/return-cases",
                                          params={"status": status}, headers=token_for(*IT))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def wait_cases(system: RunningSystem, token_for: Any, person: str, count: int,
                     status: str = "all") -> list[dict[str, Any]]:
    found = await eventually(lambda: cases_of(system, token_for, person, status),
                             lambda cases: len(cases) == count)
    assert len(found) == count, found
    return found


async def outbox(system: RunningSystem, routing_key: str, subject: str) -> list[dict[str, Any]]:
    """The events lifecycle committed for publication, about one subject, oldest first."""
    sessions = system.apps["lifecycle"].state.sessions
    async with sessions() as session:
        rows = await session.execute(text(
            "SELECT envelope FROM lifecycle.outbox WHERE routing_key = :k "
            "AND envelope->>'subject' = :s ORDER BY id"), {"k": routing_key, "s": subject})
        return [row[0]["data"] for row in rows]


def minutes(n: int) -> datetime:
    """An HR recording time: a fixed base plus n minutes, so tests can order events exactly."""
    return datetime(2026, 1, 5, 8, 0, tzinfo=UTC) + timedelta(minutes=n)
