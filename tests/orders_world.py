"""A small world for the orders tests: units through lifecycle's HTTP API, people and devices as
the events lifecycle and inventory publish, and a tap on the events orders publishes.

Nothing here writes orders' tables: facts reach orders only through its API and its inbox.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import aio_pika
import httpx
from sqlalchemy import text

from shared.events.base import Event, encode, wrap
from shared.events.catalogue import DeviceIssued, DeviceReturned, EmployeeHired
from shared.messaging.transport import InProcessTransport
from tests.system import RunningSystem, eventually

Tokens = Callable[..., dict[str, str]]


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Unit:
    unit_id: str
    head: str
    cost_centre: str


class World:
    def __init__(self, system: RunningSystem, token_for: Tokens) -> None:
        self.system = system
        self.token_for = token_for

    @property
    def orders(self) -> httpx.AsyncClient:
        return self.system.orders

    def as_(self, person: str, *roles: str) -> dict[str, str]:
        return self.token_for(person, *(roles or ("employee",)))

    # --- facts from lifecycle and inventory ---------------------------------------------------

    async def unit(self, *, head: str | None = None, parent: str | None = None,
                   cost_centre: str = "41230") -> Unit:
        """Registered through lifecycle's API; returns once orders has learnt it."""
        unit_id, head = uid("U"), head or uid("head")
        created = await self.system.lifecycle.post("/v1/units", headers=self.token_for(), json={
            "unit_id": unit_id, "name": "Hemtjänst Norr", "administration": "Socialförvaltningen",
            "cost_centre": cost_centre, "head_person_id": head, "parent_unit_id": parent})
        assert created.status_code == 201, created.text
        await self.until_unit(unit_id, lambda body: body["head_person_id"] == head)
        return Unit(unit_id, head, cost_centre)

    async def change_head(self, unit: Unit, head: str) -> None:
        changed = await self.system.lifecycle.put(
            f"/v1/units/{unit.unit_id}", headers=self.token_for(),
            json={"name": "Hemtjänst Norr", "administration": "Socialförvaltningen",
                  "cost_centre": unit.cost_centre, "head_person_id": head})
        assert changed.status_code == 200, changed.text
        await self.until_unit(unit.unit_id, lambda body: body["head_person_id"] == head)
        unit.head = head

    async def until_unit(self, unit_id: str, ready: Callable[[dict[str, Any]], bool]) -> None:
        seen = await eventually(
            lambda: self.orders.get(f"/v1/units/{unit_id}", headers=self.token_for()),
            lambda r: r.status_code == 200 and ready(r.json()))
        assert seen.status_code == 200 and ready(seen.json()), seen.text

    async def inject(self, event: Event, *, subject: str | None = None,
                     at: datetime | None = None) -> str:
        """Publish as its producer would, through the system's transport; wait until orders
        applied it (its id is in orders' inbox)."""
        envelope = wrap(event, subject=subject)
        if at is not None:
            envelope = envelope.model_copy(update={"time": at})
        transport = self.system.apps["orders"].state.runtime.transport
        await transport.publish(event.routing_key(), encode(envelope), message_id=envelope.id,
                                headers={})
        applied = await eventually(lambda: self.in_inbox(envelope.id), bool)
        assert applied, f"orders never applied {event.routing_key()}"
        return envelope.id

    async def in_inbox(self, event_id: str) -> bool:
        return bool(await self.sql("SELECT count(*) FROM orders.inbox WHERE event_id = :e",
                                   e=event_id))

    async def hire(self, unit: Unit, person: str | None = None, *,
                   at: datetime | None = None) -> str:
        person = person or uid("p")
        await self.inject(EmployeeHired(person_id=person, unit_id=unit.unit_id,
                                        start_date=date(2026, 1, 1)), subject=person, at=at)
        return person

    async def issue(self, *, holder: str | None, unit: Unit, order_id: uuid.UUID | None = None,
                    kind: str | None = "phone", device_id: uuid.UUID | None = None,
                    at: datetime | None = None,
                    subscription_ids: tuple[uuid.UUID, ...] = ()) -> uuid.UUID:
        device_id = device_id or uuid.uuid4()
        await self.inject(DeviceIssued(device_id=device_id, order_id=order_id,
                                       holder_person_id=holder, unit_id=unit.unit_id,
                                       issued_by="it-7", kind=kind,  # type: ignore[arg-type]
                                       subscription_ids=subscription_ids),
                          subject=str(device_id), at=at)
        return device_id

    async def give_back(self, device_id: uuid.UUID, *, holder: str | None, unit: Unit,
                        at: datetime | None = None) -> None:
        await self.inject(DeviceReturned(device_id=device_id, from_person_id=holder,
                                         unit_id=unit.unit_id, received_by="it-7"),
                          subject=str(device_id), at=at)

    # --- orders' own API ---------------------------------------------------------------------

    async def appoint(self, unit: Unit, person: str) -> httpx.Response:
        return await self.orders.put(f"/v1/units/{unit.unit_id}/orderers/{person}",
                                     headers=self.as_(unit.head, "department-head"))

    async def staffed_unit(self, **unit_options: Any) -> tuple[Unit, str, str]:
        """A unit with a head, an appointed orderer and an employee to order for."""
        unit = await self.unit(**unit_options)
        orderer, employee = await self.hire(unit), await self.hire(unit)
        appointed = await self.appoint(unit, orderer)
        assert appointed.status_code == 201, appointed.text
        return unit, orderer, employee

    async def place(self, unit: Unit, orderer: str, recipient: str | None,
                    *lines: str | tuple[str, int], key: str | None = None,
                    **extra: Any) -> httpx.Response:
        body = {"unit_id": unit.unit_id, "recipient_person_id": recipient,
                "lines": [{"catalogue_item_id": ln, "quantity": 1} if isinstance(ln, str)
                          else {"catalogue_item_id": ln[0], "quantity": ln[1]} for ln in lines],
                **extra}
        headers = self.as_(orderer, "orderer") | ({"Idempotency-Key": key} if key else {})
        return await self.orders.post("/v1/orders", json=body, headers=headers)

    async def approve(self, order: dict[str, Any], by: str, **body: Any) -> httpx.Response:
        return await self.orders.post(f"/v1/orders/{order['order_id']}/approve", json=body,
                                      headers=self.as_(by, "department-head"))

    async def sql(self, query: str, **params: Any) -> Any:
        sessions = self.system.apps["orders"].state.sessions
        async with sessions() as session:
            return (await session.execute(text(query), params)).scalar_one()

    async def outbox(self, routing_key: str, subject: str) -> list[dict[str, Any]]:
        """Orders' outbox rows for one event and object, once the relay sent them all."""
        count = "SELECT count(*) FROM orders.outbox WHERE sent_at IS NULL"
        await eventually(lambda: self.sql(count), lambda n: n == 0)
        sessions = self.system.apps["orders"].state.sessions
        async with sessions() as session:
            rows = await session.execute(text(
                "SELECT envelope, sent_at FROM orders.outbox WHERE routing_key = :k "
                "AND envelope->>'subject' = :s ORDER BY id"), {"k": routing_key, "s": subject})
            return [{"envelope": r[0], "sent_at": r[1]} for r in rows]


class Tap:
    """What actually went over the transport for one routing key (not just the outbox)."""

    def __init__(self, system: RunningSystem, broker_url: str, routing_key: str) -> None:
        self.system, self.broker_url, self.routing_key = system, broker_url, routing_key
        self.seen: list[dict[str, Any]] = []
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def __aenter__(self) -> Tap:
        if self.system.kind == "rabbitmq":
            self._connection = await aio_pika.connect_robust(self.broker_url)
            channel = await self._connection.channel()
            exchange = await channel.get_exchange("kommunmobil.events")
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(exchange, self.routing_key)
            await queue.consume(self._on_message, no_ack=True)
        return self

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.seen.append(json.loads(message.body))

    def events(self, subject: str) -> list[dict[str, Any]]:
        if self.system.kind != "rabbitmq":
            transport = self.system.transport
            assert isinstance(transport, InProcessTransport) and transport.event_log is not None
            self.seen = [json.loads(body) for key, body in list(transport.event_log)
                         if key == self.routing_key]
        return [e for e in self.seen if e.get("subject") == subject]

    async def wait(self, subject: str, count: int = 1) -> list[dict[str, Any]]:
        """The events about `subject` once at least `count` arrived (or the wait timed out)."""

        async def probe() -> list[dict[str, Any]]:
            return self.events(subject)

        return await eventually(probe, lambda seen: len(seen) >= count)

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await asyncio.sleep(0)
            await self._connection.close()


def now() -> datetime:
    return datetime.now(UTC)
