"""Lifecycle benchmark: the HR webhook and the overdue sweep, each against a raw ceiling measured
in the same run, on the same PostgreSQL, on this machine.

  * webhook: N signed `employment.ended` deliveries, C at a time, through the real lifecycle app
    (ASGI in process, no network), each person holding two phones, so each delivery verifies the
    signature, records the webhook-id, ends the employment, opens two return cases and writes
    three events and three audit entries in one transaction: deliveries/s, p50/p99 latency.
    Ceiling: the same signature check and the same rows written with bare asyncpg, one
    transaction per delivery, the same concurrency and pool size.
  * sweep: K overdue open cases escalated in one run of `POST /v1/return-cases/escalations`, and
    a second run that must escalate nothing. Ceiling: one INSERT … SELECT of the escalations, their
    outbox rows and audit rows in a single statement.

    python -m bench.lifecycle_offboarding [--deliveries 1000] [--concurrency 20] [--cases 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import asyncpg
import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from standardwebhooks.webhooks import Webhook

from services.lifecycle.main import SPEC
from shared.auth import TokenVerifier, mint_token
from shared.db import asyncpg_dsn
from shared.events.base import encode, wrap
from shared.events.catalogue import DeviceIssued
from shared.messaging.transport import InProcessTransport, OutgoingMessage
from shared.runtime import create_app
from shared.settings import (
    DEV_AUDIENCE,
    DEV_HR_WEBHOOK_SECRET,
    DEV_ISSUER,
    CommonSettings,
    LifecycleSettings,
)
from tests.support.throwaway import throwaway_database

ADMIN_URL = os.environ.get("KM_BENCH_DATABASE_URL",
                           "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def signed_end(person: str, recorded: datetime) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"type": "employment.ended", "timestamp": recorded.isoformat(),
                       "data": {"person_id": person, "unit_id": "SOC-1", "last_day": "2026-12-31",
                                "nearest_manager_id": "M-1"}}).encode()
    msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    return body, {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
                  "webhook-signature": Webhook(DEV_HR_WEBHOOK_SECRET).sign(
                      msg_id, now, body.decode()),
                  "content-type": "application/json"}


async def seed_holdings(transport: InProcessTransport, people: list[str]) -> None:
    """Two phones per person, issued through the consumer as inventory's events would be."""
    messages = []
    for person in people:
        for _ in range(2):
            envelope = wrap(DeviceIssued(device_id=uuid.uuid4(), holder_person_id=person,
                                         unit_id="SOC-1", issued_by="it", kind="phone"))
            messages.append(OutgoingMessage("inventory.device-issued.v1", encode(envelope),
                                            envelope.id, {}))
    for start in range(0, len(messages), 500):
        assert not any(await transport.publish_many(messages[start:start + 500]))


async def through_the_app(client: httpx.AsyncClient, people: list[str], concurrency: int
                          ) -> tuple[float, list[float]]:
    window, latencies = asyncio.Semaphore(concurrency), []

    async def one(person: str) -> None:
        body, headers = signed_end(person, datetime.now(UTC))
        async with window:
            started = time.perf_counter()
            response = await client.post("/v1/hr/events", content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
        assert response.status_code == 200 and response.json()["outcome"] == "applied", \
            response.text

    started = time.perf_counter()
    await asyncio.gather(*(one(p) for p in people))
    return time.perf_counter() - started, latencies


RAW_DELIVERY = """
WITH hr AS (INSERT INTO lifecycle.hr_events (webhook_id, event_type, subject, hr_time, payload,
                                            outcome, detail)
            VALUES ($1, 'employment.ended', $2, now(), $3::jsonb, 'applied', 'ended')
            ON CONFLICT DO NOTHING RETURNING webhook_id),
     p AS (INSERT INTO lifecycle.people (person_id, unit_id, nearest_manager_id, placement,
                                         last_day, hr_time)
           SELECT $2, 'SOC-1', 'M-1', 'unknown', DATE '2026-12-31', now() FROM hr
           ON CONFLICT (person_id) DO UPDATE SET last_day = EXCLUDED.last_day
           RETURNING person_id),
     c AS (INSERT INTO lifecycle.return_cases (case_id, device_id, person_id, unit_id, reason,
                                               due_date, receiver_person_id, status, opened_by)
           SELECT gen_random_uuid(), h.device_id, p.person_id, h.unit_id, 'employment-ended',
                  DATE '2026-12-31', 'M-1', 'open', 'hr'
           FROM p JOIN lifecycle.holdings h ON h.holder_person_id = p.person_id
                  AND h.state = 'issued'
           ON CONFLICT DO NOTHING RETURNING case_id, device_id),
     o AS (INSERT INTO lifecycle.outbox (event_id, routing_key, envelope)
           SELECT gen_random_uuid()::text, 'lifecycle.return-requested.v1',
                  jsonb_build_object('data', jsonb_build_object('case', case_id))
           FROM c
           UNION ALL
           SELECT gen_random_uuid()::text, 'lifecycle.employment-ended.v1',
                  jsonb_build_object('data', jsonb_build_object('person_id', person_id))
           FROM p RETURNING 1)
INSERT INTO lifecycle.audit_log (actor, action, object_type, object_id)
SELECT 'hr', 'return-case.open', 'return-case', case_id::text FROM c
UNION ALL SELECT 'hr', 'person.end', 'person', person_id FROM p
"""


async def raw_ceiling(url: str, people: list[str], concurrency: int, pool_size: int
                      ) -> tuple[float, list[float]]:
    """The same verification and rows, hand-written: what the frame and ORM cost is measured
    against."""
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=pool_size, max_size=pool_size)
    hook, window, latencies = Webhook(DEV_HR_WEBHOOK_SECRET), asyncio.Semaphore(concurrency), []

    async def one(person: str) -> None:
        body, headers = signed_end(person, datetime.now(UTC))
        async with window:
            started = time.perf_counter()
            hook.verify(body, headers, json_parse=False)
            payload = json.loads(body)
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute(RAW_DELIVERY, headers["webhook-id"],
                                         payload["data"]["person_id"], body.decode())
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(p) for p in people))
    elapsed = time.perf_counter() - started
    await pool.close()
    return elapsed, latencies


RAW_SWEEP = """
WITH e AS (INSERT INTO lifecycle.return_escalations (case_id, level, days_overdue, escalated_to,
                                                    as_of)
           SELECT c.case_id, 1 + (($1::date - c.due_date) - 1) / 7, $1::date - c.due_date,
                  u.head_person_id, $1::date
           FROM lifecycle.return_cases c
           LEFT JOIN lifecycle.holdings h ON h.device_id = c.device_id
           LEFT JOIN lifecycle.units u ON u.unit_id = c.unit_id
           WHERE c.status = 'open' AND c.due_date < $1::date
             AND h.state IS DISTINCT FROM 'lost'
           ON CONFLICT DO NOTHING RETURNING case_id, level, days_overdue),
     o AS (INSERT INTO lifecycle.outbox (event_id, routing_key, envelope)
           SELECT gen_random_uuid()::text, 'lifecycle.return-overdue.v1',
                  jsonb_build_object('data', jsonb_build_object(
                      'return_case_id', case_id, 'escalation_level', level,
                      'days_overdue', days_overdue))
           FROM e RETURNING 1)
INSERT INTO lifecycle.audit_log (actor, action, object_type, object_id)
SELECT 'bench', 'return-case.escalate', 'return-case', case_id::text FROM e
"""


async def seed_overdue_cases(url: str, count: int) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    await connection.execute(
        "INSERT INTO lifecycle.return_cases (case_id, device_id, person_id, unit_id, reason, "
        "due_date, receiver_person_id, status, opened_by) "
        "SELECT gen_random_uuid(), gen_random_uuid(), 'P-' || i, 'SOC-1', 'employment-ended', "
        "DATE '2020-01-01', 'M-1', 'open', 'bench' FROM generate_series(1, $1) i", count)
    await connection.close()


async def timed_sql(url: str, sql: str, *args: object) -> float:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    started = time.perf_counter()
    async with connection.transaction():
        await connection.execute(sql, *args)
    elapsed = time.perf_counter() - started
    await connection.close()
    return elapsed


async def sweep_through_app(client: httpx.AsyncClient, token: str, as_of: str
                            ) -> tuple[float, int]:
    started = time.perf_counter()
    response = await client.post("/v1/return-cases/escalations", params={"as_of": as_of},
                                 headers={"Authorization": f"Bearer {token}"}, timeout=600)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed, len(response.json()["escalated"])


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--cases", type=int, default=5000)
    args = parser.parse_args()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = LifecycleSettings(overdue_sweep_seconds=3600)
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(throwaway_database(ADMIN_URL, "km_bench"))
        common = CommonSettings(database_url=url, environment="test")
        transport = InProcessTransport()
        await transport.start()
        app = create_app(SPEC, common=common, settings=settings, database_url=url,
                         token_verifier=TokenVerifier(common, public_key=key.public_key()),
                         transport=transport)
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://lifecycle", timeout=60))
        app_people = [f"A-{i}" for i in range(args.deliveries)]
        raw_people = [f"R-{i}" for i in range(args.deliveries)]
        await seed_holdings(transport, app_people + raw_people)

        print(f"HR webhook: {args.deliveries} signed employment ends, 2 return cases each, "
              f"{args.concurrency} at a time")
        raw_s, raw_lat = await raw_ceiling(url, raw_people, args.concurrency,
                                           2 * settings.db_pool_size)
        app_s, app_lat = await through_the_app(client, app_people, args.concurrency)
        for name, seconds, lat in (("raw ceiling (asyncpg)", raw_s, raw_lat),
                                   ("lifecycle app", app_s, app_lat)):
            print(f"  {name:22s} {args.deliveries / seconds:8.0f} deliveries/s   "
                  f"p50 {percentile(lat, 50) * 1000:6.1f} ms   p99 "
                  f"{percentile(lat, 99) * 1000:6.1f} ms")
        print(f"  app / ceiling: {raw_s / app_s:.2f} of the raw rate")

        print(f"Overdue sweep: {args.cases} overdue open cases")
        await seed_overdue_cases(url, args.cases)
        raw_sweep = await timed_sql(url, RAW_SWEEP, datetime(2020, 1, 5).date())
        token = mint_token(key, subject="it-1", roles=["it-service"], issuer=DEV_ISSUER,
                           audience=DEV_AUDIENCE)
        app_sweep, escalated = await sweep_through_app(client, token, "2020-01-12")
        again, none = await sweep_through_app(client, token, "2020-01-12")
        print(f"  {'raw ceiling (SQL)':22s} {raw_sweep:8.2f} s")
        print(f"  {'lifecycle app':22s} {app_sweep:8.2f} s   ({escalated} escalated, "
              f"{escalated / app_sweep:.0f}/s, {app_sweep / raw_sweep:.1f}x the ceiling)")
        print(f"  {'second run':22s} {again:8.2f} s   ({none} escalated)")
        await transport.close()


if __name__ == "__main__":
    asyncio.run(main())
