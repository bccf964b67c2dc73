"""The two servers bench/orders_api.py compares, each run as its own process:

* `orders`: the real orders service (create_app, migrations, auth, relay, consumer), on the
  in-process transport, fed its organisation through that transport as lifecycle's events;
* `bare`: a bare FastAPI + asyncpg app issuing the same SQL statements per request as the
  orders service does, into a copy of its tables (schema `bare`), with no auth, no ORM, no
  validation beyond json — the ceiling the real service is measured against.

    python -m bench.orders_servers orders DATABASE_URL PORT PUBLIC_KEY_PEM FIXTURE_JSON
    python -m bench.orders_servers bare DATABASE_URL PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from services.orders import repository
from services.orders.main import SPEC
from services.orders.models import SCHEMA
from shared.auth import TokenVerifier
from shared.db import asyncpg_dsn, combined
from shared.events.base import encode, wrap
from shared.events.catalogue import EmployeeHired, UnitRegistered
from shared.messaging.transport import InProcessTransport
from shared.runtime import create_app, freeze_startup_heap, run_event_loop
from shared.settings import CommonSettings, OrdersSettings

COPIED = ("orders", "idempotency_keys", "audit_log", "outbox")


async def _started(server: uvicorn.Server) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.05)


async def serve_orders(database_url: str, port: int, public_key: str, fixture: str) -> None:
    common = CommonSettings(database_url=database_url, environment="test", log_level="WARNING")
    key = serialization.load_pem_public_key(Path(public_key).read_bytes())  # noqa: ASYNC240
    transport = InProcessTransport()
    await transport.start()
    app = create_app(SPEC, common=common, settings=OrdersSettings(), database_url=database_url,
                     token_verifier=TokenVerifier(common, public_key=key), transport=transport)
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="on",
                                           access_log=False))
    serving = asyncio.create_task(server.serve())
    await _started(server)
    # The organisation arrives as lifecycle would send it: events, applied by orders' consumer.
    for unit in json.loads(fixture)["units"]:
        events: list[Any] = [UnitRegistered(unit_id=unit["unit_id"], name="Bench",
                                            administration="Bench", cost_centre="10000",
                                            head_person_id=unit["head"])]
        events += [EmployeeHired(person_id=p, unit_id=unit["unit_id"],
                                 start_date=date(2026, 1, 1))
                   for p in [unit["orderer"], *unit["employees"]]]
        for event in events:
            envelope = wrap(event)
            await transport.publish(event.routing_key(), encode(envelope),
                                    message_id=envelope.id, headers={})
    freeze_startup_heap()  # once started, as the services' entry point does (shared/cli.py)
    print("READY", flush=True)
    await serving


# --- the bare endpoint ---------------------------------------------------------------------------

# The same statements the service issues: services/orders/repository.py's own.
LISTING = (repository.LISTING.replace(f"{SCHEMA}.orders o", "bare.orders o")
           + " WHERE (o.unit_id = ANY($1::text[]) OR o.orderer_id = $2) "
           "ORDER BY o.created_at DESC, o.order_id DESC LIMIT $3")


def _money(value: Decimal) -> str:
    return format(value, ".2f")


def _lines(body: dict[str, Any], items: list[asyncpg.Record]) -> list[dict[str, Any]]:
    """The requested items plus the phone's protector and case, as the service's lines."""
    wanted = {ln["catalogue_item_id"] for ln in body["lines"]}
    models = {i["model_id"] for i in items if i["item_id"] in wanted}
    chosen = [i for i in items if i["item_id"] in wanted
              or set(i["fits_model_ids"] or ()) & models]
    return [{"catalogue_item_id": i["item_id"], "kind": i["kind"], "name": i["name"],
             "tier": i["tier"], "model_id": i["model_id"], "quantity": 1,
             "one_time_price_sek": _money(i["one_time_price_sek"]),
             "monthly_price_sek": _money(i["monthly_price_sek"])} for i in chosen]


def _fields(row: Any) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, uuid.UUID) else _money(v) if isinstance(v, Decimal)
                else v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def _order(row: Any) -> dict[str, Any]:
    """Every column, as the service answers it."""
    return _fields(row) | {"lines": json.loads(row["lines"])}


def _listed(row: Any) -> str:
    """A listed order as JSON, its stored lines spliced in as they are — the same shortcut the
    service takes (services/orders/schemas.py: order_page_json), so that the baseline is not
    handicapped by decoding and re-encoding them."""
    fields = _fields(row)
    lines = fields.pop("lines_json")
    return json.dumps(fields)[:-1] + ', "lines": ' + lines + "}"


def _one_statement(writes: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
    sql, args = combined(writes)
    return [sql, *args]


def bare_app(database_url: str) -> FastAPI:
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        # As many connections as the orders service opens under this load: its requests' pool
        # (10 + overflow 10) and its relay's own two (shared/db.py: make_relay_engine: one per
        # round in flight). This endpoint relays nothing, so all of them serve its requests.
        pool = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=22, max_size=22)
        async with pool.acquire() as connection:
            await connection.execute("CREATE SCHEMA IF NOT EXISTS bare")
            for table in COPIED:
                await connection.execute(f"CREATE TABLE IF NOT EXISTS bare.{table} "
                                         f"(LIKE orders.{table} INCLUDING ALL)")
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/orders", status_code=201)
    async def place(request: Request) -> JSONResponse:
        body = await request.json()
        person = request.headers["x-person"]
        key = request.headers.get("idempotency-key")
        order_id, now = uuid.uuid4(), datetime.now(UTC)
        assert pool is not None
        async with pool.acquire() as c, c.transaction():
            await c.fetchrow("INSERT INTO bare.idempotency_keys (caller_id, key, request_hash, "
                             "order_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING "
                             "RETURNING order_id", person, key, "h", order_id)
            unit = await c.fetchrow(repository.CONTEXT_PERSONAL, body["unit_id"], person,
                                    body["recipient_person_id"])
            items = await c.fetch(repository.FOR_ORDER,
                                  [ln["catalogue_item_id"] for ln in body["lines"]])
            lines = _lines(body, items)
            one_time = sum(Decimal(ln["one_time_price_sek"]) for ln in lines)
            monthly = sum(Decimal(ln["monthly_price_sek"]) for ln in lines)
            row = {"order_id": order_id, "unit_id": body["unit_id"],
                   "cost_centre": unit["cost_centre"], "orderer_id": person,
                   "recipient_person_id": body["recipient_person_id"], "status": "submitted",
                   "lines": json.dumps(lines), "one_time_total_sek": one_time,
                   "monthly_total_sek": monthly, "devices_expected": 1, "created_at": now,
                   "updated_at": now, "approver_person_id": unit[2]}
            # The service defers these three to its commit and sends them as one statement
            # (shared/db.py: write_rows): so does the bare endpoint, with the same function.
            await c.execute(*_one_statement([
                ("INSERT INTO bare.orders (order_id, unit_id, cost_centre, orderer_id, "
                 "recipient_person_id, status, lines, one_time_total_sek, monthly_total_sek, "
                 "devices_expected, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, "
                 "$7::jsonb, $8, $9, $10, $11, $12)", tuple(list(row.values())[:12])),
                ("INSERT INTO bare.audit_log (actor, action, object_type, object_id, after) "
                 "VALUES ($1, 'order.submit', 'order', $2, $3::jsonb)",
                 (person, str(order_id), json.dumps({"lines": lines}))),
                ("INSERT INTO bare.outbox (event_id, routing_key, envelope) VALUES "
                 "($1, 'orders.order-submitted.v1', $2::jsonb)",
                 (str(uuid.uuid4()), json.dumps({"data": {"order_id": str(order_id),
                                                          "lines": lines}})))]))
        return JSONResponse(_order(row), status_code=201)

    @app.get("/v1/orders")
    async def listing(request: Request) -> Response:
        person = request.headers["x-person"]
        assert pool is not None
        async with pool.acquire() as c, c.transaction():
            units = [r[0] for r in await c.fetch(repository.STANDING, person)
                     if r[1] != "decides-for"]
            rows = await c.fetch(LISTING, units, person, 51)
        items = ", ".join(_listed(r) for r in rows[:50])
        return Response('{"items": [' + items + '], "next_cursor": null}',
                        media_type="application/json")

    return app


async def serve_bare(database_url: str, port: int) -> None:
    server = uvicorn.Server(uvicorn.Config(bare_app(database_url), port=port,
                                           log_level="warning", access_log=False))
    serving = asyncio.create_task(server.serve())
    await _started(server)
    freeze_startup_heap()  # as for the service: the same garbage collector's work
    print("READY", flush=True)
    await serving


if __name__ == "__main__":
    kind, url, port_text, *rest = sys.argv[1:]
    if kind == "orders":
        run_event_loop(serve_orders(url, int(port_text), rest[0], rest[1]))
    else:
        run_event_loop(serve_bare(url, int(port_text)))
