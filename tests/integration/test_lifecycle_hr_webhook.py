"""The HR webhook over HTTP: only HR's signature opens it, each webhook-id takes effect once
(even 100 at the same moment), the answer comes after the commit, and HR's units become the
organisation other services learn about (rule O2's cost centre and head)."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from sqlalchemy import text

from services.lifecycle.jobs import today_in
from services.lifecycle.main import SPEC
from shared.auth import TokenVerifier
from shared.messaging.transport import InProcessTransport
from shared.runtime import create_app
from shared.settings import DEV_HR_WEBHOOK_SECRET, CommonSettings, LifecycleSettings
from tests.conftest import fresh_database
from tests.lifecycle_helpers import (
    HR_PATH,
    IT,
    end,
    hire,
    hr_body,
    hr_send,
    inject,
    issued,
    minutes,
    new_id,
    outbox,
    publish,
    signed,
    wait_cases,
    wait_holding,
)
from tests.system import RunningSystem, eventually

PROBLEM = "application/problem+json"


def hire_data(person: str, unit: str = "SOC-1") -> dict[str, Any]:
    return {"person_id": person, "unit_id": unit, "nearest_manager_id": "M-1",
            "start_date": "2026-03-01"}


async def person_status(system: RunningSystem, token_for: Any, person: str) -> int:
    response = await system.lifecycle.get(f"/v1/people/{person}", headers=token_for(*IT))
    return response.status_code


async def test_only_a_valid_hr_signature_opens_the_webhook(system_inprocess: RunningSystem,
                                                          token_for: Any) -> None:
    person = new_id("E")
    body = hr_body("employee.hired", hire_data(person))
    client = system_inprocess.lifecycle
    attempts = {
        "unsigned": {"content-type": "application/json"},
        "it-service bearer token, no signature": token_for(*IT),
        "wrong secret": signed(body, secret="whsec_" + base64.b64encode(b"w" * 32).decode()),
        "timestamp 10 minutes old": signed(body, sent_at=datetime.now(UTC) - timedelta(
            minutes=10)),
        "malformed signature": signed(body) | {"webhook-signature": "v1,%%%"},
    }
    for name, headers in attempts.items():
        response = await client.post(HR_PATH, content=body, headers=headers)
        assert response.status_code == 401, (name, response.text)
        assert response.headers["content-type"] == PROBLEM, name
        assert response.json()["detail"], name
    tampered = signed(body)
    response = await client.post(HR_PATH, content=body.replace(b"M-1", b"M-2"),
                                 headers=tampered)
    assert response.status_code == 401
    assert await person_status(system_inprocess, token_for, person) == 404  # nothing applied


async def test_a_signed_but_invalid_event_is_422_and_nothing_is_recorded(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    person = new_id("E")
    body = json.dumps({"type": "employment.ended", "timestamp": "2026-01-01T10:00:00Z",
                       "data": {"person_id": person, "unit_id": "SOC-1"}}).encode()
    response = await system_inprocess.lifecycle.post(HR_PATH, content=body,
                                                     headers=signed(body))
    assert response.status_code == 422
    assert "last_day" in response.json()["detail"]
    received = await system_inprocess.lifecycle.get(
        "/v1/hr/events", params={"subject": person}, headers=token_for(*IT))
    assert received.json() == []


async def test_a_signed_event_dated_outside_any_employment_is_422_not_a_500(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """Year 1 or 9999 overflows the rules' date arithmetic (a due date a day later, a time in
    UTC): a 500 would make HR retry the same event forever."""
    person = new_id("E")
    wrong = {
        "timestamp": {"type": "employee.hired", "timestamp": "0001-01-01T00:00:00+01:00",
                      "data": hire_data(person)},
        "data.last_day": {"type": "employment.ended", "timestamp": "2026-01-01T10:00:00Z",
                          "data": {"person_id": person, "unit_id": "SOC-1",
                                   "last_day": "9999-12-31"}},
        "data.effective_date": {"type": "employee.transferred",
                                "timestamp": "2026-01-01T10:00:00Z",
                                "data": {"person_id": person, "from_unit_id": "SOC-1",
                                         "to_unit_id": "SOC-2", "effective_date": "0001-01-01"}},
    }
    for field, event in wrong.items():
        body = json.dumps(event).encode()
        response = await system_inprocess.lifecycle.post(HR_PATH, content=body,
                                                         headers=signed(body))
        assert response.status_code == 422, (field, response.text)
        detail = response.json()["detail"]
        assert field in detail and "between 1900 and 2199" in detail, detail
    received = await system_inprocess.lifecycle.get(
        "/v1/hr/events", params={"subject": person}, headers=token_for(*IT))
    assert received.json() == []


async def test_the_same_webhook_id_again_is_2xx_and_has_no_second_effect(
        system: RunningSystem, token_for: Any) -> None:
    person = new_id("E")
    body = hr_body("employee.hired", hire_data(person))
    headers = signed(body, webhook_id=f"msg_{person}")
    first = await system.lifecycle.post(HR_PATH, content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() | {"detail": ""} == {"webhook_id": f"msg_{person}",
                                             "type": "employee.hired", "outcome": "applied",
                                             "detail": "", "duplicate": False}
    # HR retries the same event (same id), signed again with a fresh timestamp.
    again = await system.lifecycle.post(HR_PATH, content=body,
                                        headers=signed(body, webhook_id=f"msg_{person}"))
    assert again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["outcome"] == "applied"
    person_now = await system.lifecycle.get(f"/v1/people/{person}", headers=token_for(*IT))
    assert person_now.json()["version"] == 1
    assert len(await outbox(system, "lifecycle.employee-hired.v1", person)) == 1


async def test_100_concurrent_duplicates_make_one_effect(system_inprocess: RunningSystem,
                                                        token_for: Any) -> None:
    person = new_id("E")
    body = hr_body("employee.hired", hire_data(person))
    headers = signed(body, webhook_id=f"msg_{person}")
    responses = await asyncio.gather(*(
        system_inprocess.lifecycle.post(HR_PATH, content=body, headers=headers)
        for _ in range(100)))
    assert [r.status_code for r in responses] == [200] * 100
    assert sum(not r.json()["duplicate"] for r in responses) == 1
    assert {r.json()["outcome"] for r in responses} == {"applied"}
    assert len(await outbox(system_inprocess, "lifecycle.employee-hired.v1", person)) == 1
    received = await system_inprocess.lifecycle.get(
        "/v1/hr/events", params={"subject": person}, headers=token_for(*IT))
    assert len(received.json()) == 1


async def test_u7_100_concurrent_deliveries_of_one_end_under_new_ids_open_one_case_per_device(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """HR's sender misbehaving (a new id per retry): the content still applies only once."""
    person, phone = new_id("E"), uuid.uuid4()
    await hire(system_inprocess.lifecycle, person, "SOC-1", "M-1", recorded_at=minutes(0))
    await inject(system_inprocess, issued(phone, person, "SOC-1"))
    await wait_holding(system_inprocess, token_for, person, phone)
    body = hr_body("employment.ended", {"person_id": person, "unit_id": "SOC-1",
                                        "last_day": "2026-12-31"}, recorded_at=minutes(1))
    responses = await asyncio.gather(*(
        system_inprocess.lifecycle.post(HR_PATH, content=body, headers=signed(body))
        for _ in range(100)))
    assert [r.status_code for r in responses] == [200] * 100
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes.count("applied") == 1 and set(outcomes) <= {"applied", "unchanged", "stale"}
    await wait_cases(system_inprocess, token_for, person, 1)
    assert len(await outbox(system_inprocess, "lifecycle.employment-ended.v1", person)) == 1


async def test_2xx_is_answered_only_after_the_commit(system_inprocess: RunningSystem) -> None:
    """The moment the 200 arrives, another connection already sees the change."""
    person = new_id("E")
    response = await hr_send(system_inprocess.lifecycle, "employee.hired", hire_data(person))
    assert response.status_code == 200
    engine = system_inprocess.apps["lifecycle"].state.runtime.engine
    async with engine.connect() as connection:
        row = (await connection.execute(text(
            "SELECT p.version, e.outcome FROM lifecycle.people p JOIN lifecycle.hr_events e "
            "ON e.subject = p.person_id WHERE p.person_id = :p"), {"p": person})).one()
    assert tuple(row) == (1, "applied")


async def test_o2_units_from_hr_reach_orders_and_a_late_change_is_ignored(
        system: RunningSystem, token_for: Any) -> None:
    unit = new_id("SOC")
    data = {"unit_id": unit, "name": "Hemtjänst Norr", "administration": "Socialförvaltningen",
            "cost_centre": "41230", "head_person_id": "H-1"}
    created = await hr_send(system.lifecycle, "unit.registered", data, recorded_at=minutes(0))
    assert created.json()["outcome"] == "applied"
    changed = await hr_send(system.lifecycle, "unit.changed", data | {"head_person_id": "H-2"},
                            recorded_at=minutes(10))
    assert changed.json()["outcome"] == "applied"
    late = await hr_send(system.lifecycle, "unit.changed", data | {"head_person_id": "H-0"},
                         recorded_at=minutes(5))
    assert late.json()["outcome"] == "stale"
    seen = await eventually(
        lambda: system.orders.get(f"/v1/units/{unit}", headers=token_for("o-1", "orderer")),
        lambda r: r.status_code == 200 and r.json().get("head_person_id") == "H-2")
    assert seen.json()["head_person_id"] == "H-2"
    unit_now = await system.lifecycle.get(f"/v1/units/{unit}", headers=token_for(*IT))
    assert unit_now.json()["head_person_id"] == "H-2" and unit_now.json()["version"] == 2


async def test_the_webhook_is_documented_in_openapi_with_examples(
        system_inprocess: RunningSystem) -> None:
    document = (await system_inprocess.lifecycle.get("/openapi.json")).json()
    operation = document["paths"][HR_PATH]["post"]
    body = operation["requestBody"]["content"]["application/json"]
    assert set(body["examples"]) == {"employee.hired", "employee.transferred",
                                     "employment.ended", "unit.registered", "unit.changed"}
    assert {p["name"] for p in operation["parameters"]} == {
        "webhook-id", "webhook-timestamp", "webhook-signature"}
    assert "$defs" not in json.dumps(body["schema"])  # self-contained for a vendor


# --- a lifecycle of its own: settings the shared system does not have ---------------------

OLD = "whsec_" + base64.b64encode(b"old-secret-" * 3).decode()
NEW = "whsec_" + base64.b64encode(b"new-secret-" * 3).decode()


@dataclass
class Alone:
    client: httpx.AsyncClient
    transport: InProcessTransport
    app: FastAPI


@pytest.fixture(scope="module")
async def rotating_lifecycle(signing_key: rsa.RSAPrivateKey) -> AsyncIterator[Alone]:
    """Lifecycle alone on its own database, accepting two HR secrets, sweeping every 50 ms."""
    settings = LifecycleSettings(hr_webhook_secrets=(OLD, NEW), overdue_sweep_seconds=0.05,
                                 db_pool_size=3)
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(fresh_database())
        common = CommonSettings(database_url=url, environment="test")
        transport = InProcessTransport()
        await transport.start()
        stack.push_async_callback(transport.close)
        app = create_app(SPEC, common=common, settings=settings, database_url=url,
                         token_verifier=TokenVerifier(common, signing_key.public_key()),
                         transport=transport)
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://lifecycle"))
        yield Alone(client, transport, app)


async def test_hr_secrets_rotate_without_downtime(rotating_lifecycle: Alone) -> None:
    for secret in (OLD, NEW):
        response = await hr_send(rotating_lifecycle.client, "employee.hired",
                                 hire_data(new_id("E")), secret=secret)
        assert response.status_code == 200, response.text
    refused = await hr_send(rotating_lifecycle.client, "employee.hired",
                            hire_data(new_id("E")), secret=DEV_HR_WEBHOOK_SECRET)
    assert refused.status_code == 401


async def test_u7_the_background_sweep_escalates_overdue_cases_by_itself(
        rotating_lifecycle: Alone, token_for: Any) -> None:
    """No one calls the escalation endpoint here: the ServiceSpec job does it, once per level."""
    client, person, device = rotating_lifecycle.client, new_id("E"), uuid.uuid4()
    await hire(client, person, "SOC-1", "M-1", recorded_at=minutes(0), secret=NEW)
    await publish(rotating_lifecycle.transport, issued(device, person, "SOC-1"))
    last_day = today_in("Europe/Stockholm") - timedelta(days=3)
    await end(client, person, "SOC-1", last_day, recorded_at=minutes(1), secret=NEW)

    async def escalations() -> list[Any]:
        cases = (await client.get(f"/v1/people/{person}/return-cases",
                                  headers=token_for(*IT))).json()
        return [e for c in cases for e in c["escalations"]]

    found = await eventually(escalations, lambda e: len(e) >= 1)
    assert [(e["level"], e["escalated_to"]) for e in found] == [(1, None)]
    assert found[0]["days_overdue"] in (3, 4)  # 4 only if the sweep ran past midnight
    await asyncio.sleep(0.3)  # several more sweeps: still one escalation for level 1
    assert len(await escalations()) == 1


FAIL_AT_COMMIT = (
    """CREATE OR REPLACE FUNCTION lifecycle.fail_at_commit() RETURNS trigger AS $$
       BEGIN
         IF NEW.webhook_id LIKE 'fail-at-commit-%' THEN RAISE EXCEPTION 'injected failure';
         END IF;
         RETURN NULL;
       END $$ LANGUAGE plpgsql""",
    """CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON lifecycle.hr_events
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lifecycle.fail_at_commit()""",
)


async def test_a_failed_commit_is_never_answered_2xx_and_the_retry_applies(
        rotating_lifecycle: Alone, token_for: Any) -> None:
    """Fault injection on lifecycle's own database: the commit itself fails (a deferred
    trigger). HR must get an error, nothing may be half applied, and its retry must work."""
    client, person = rotating_lifecycle.client, new_id("E")
    engine = rotating_lifecycle.app.state.runtime.engine
    async with engine.begin() as connection:
        for statement in FAIL_AT_COMMIT:
            await connection.execute(text(statement))
    body = hr_body("employee.hired", hire_data(person))
    webhook_id = f"fail-at-commit-{person}"
    # As a real server does: the app's error response reaches the client, not the exception.
    as_served = httpx.AsyncClient(transport=httpx.ASGITransport(
        app=rotating_lifecycle.app, raise_app_exceptions=False), base_url="http://lifecycle")
    try:
        async with as_served:
            failed = await as_served.post(
                HR_PATH, content=body, headers=signed(body, webhook_id=webhook_id, secret=NEW))
        assert failed.status_code == 500, failed.text
        assert failed.headers["content-type"] == PROBLEM
        assert (await client.get(f"/v1/people/{person}", headers=token_for(*IT))
                ).status_code == 404
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(
                "DROP TRIGGER fail_at_commit ON lifecycle.hr_events"))
    retried = await client.post(HR_PATH, content=body,
                                headers=signed(body, webhook_id=webhook_id, secret=NEW))
    assert retried.status_code == 200
    assert (retried.json()["outcome"], retried.json()["duplicate"]) == ("applied", False)
