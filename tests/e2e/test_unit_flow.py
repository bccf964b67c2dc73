"""A whole workflow across services: lifecycle registers a unit, orders learns it via events."""

from __future__ import annotations

import asyncio
import json
import uuid

import aio_pika
from opentelemetry import trace

from tests.system import RunningSystem, eventually


async def test_unit_registered_in_lifecycle_reaches_orders(system: RunningSystem, token_for
                                                           ) -> None:  # type: ignore[no-untyped-def]
    unit_id = f"U-{uuid.uuid4().hex[:8]}"
    created = await system.lifecycle.post("/v1/units", headers=token_for("it-1", "it-service"),
                                          json={"unit_id": unit_id, "name": "Hemtjänst Norr",
                                                "administration": "Socialförvaltningen",
                                                "cost_centre": "41230",
                                                "head_person_id": "head-1"})
    assert created.status_code == 201, created.text
    seen = await eventually(
        lambda: system.orders.get(f"/v1/units/{unit_id}", headers=token_for("o-1", "orderer")),
        lambda r: r.status_code == 200)
    assert seen.status_code == 200, seen.text
    assert seen.json()["cost_centre"] == "41230"
    assert seen.json()["head_person_id"] == "head-1"

    changed = await system.lifecycle.put(f"/v1/units/{unit_id}",
                                         headers=token_for("it-1", "it-service"),
                                         json={"name": "Hemtjänst Norr", "cost_centre": "41231",
                                               "administration": "Socialförvaltningen",
                                               "head_person_id": "head-2"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    updated = await eventually(
        lambda: system.orders.get(f"/v1/units/{unit_id}", headers=token_for("o-1", "orderer")),
        lambda r: r.json().get("head_person_id") == "head-2")
    assert updated.json()["cost_centre"] == "41231"
    assert trace.get_current_span() is not None


async def test_dashboard_replays_every_event_from_the_event_log(
    system_rabbitmq: RunningSystem, broker_url: str, token_for) -> None:  # type: ignore[no-untyped-def]
    """docs/events.md's recipe, as written: read the stream from the first offset."""
    unit_id = f"U-{uuid.uuid4().hex[:8]}"
    response = await system_rabbitmq.lifecycle.post(
        "/v1/units", headers=token_for(),
        json={"unit_id": unit_id, "name": "Bibliotek", "administration": "Kultur",
              "cost_centre": "60100"})
    assert response.status_code == 201
    connection = await aio_pika.connect_robust(broker_url)
    found = None
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=100)
        queue = await channel.declare_queue("kommunmobil.event-log", durable=True, passive=True)
        async with asyncio.timeout(20), queue.iterator(
                arguments={"x-stream-offset": "first"}) as messages:
            async for message in messages:
                event = json.loads(message.body)
                await message.ack()
                if event.get("subject") == unit_id:
                    found = (event, message.content_type, message.message_id)
                    break
    assert found is not None
    event, content_type, message_id = found
    assert event["type"] == "se.varnamo.kommunmobil.lifecycle.unit-registered.v1"
    assert content_type == "application/cloudevents+json"
    assert message_id == event["id"]
    assert event["data"]["cost_centre"] == "60100"
