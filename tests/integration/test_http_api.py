"""The HTTP contract every endpoint keeps: authentication, roles, problem details, no half
changes, audit trail, and traces that follow a request through outbox, broker and consumer."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.settings import DEV_AUDIENCE, DEV_ISSUER
from tests.system import RunningSystem, eventually

PROBLEM = "application/problem+json"


def new_unit(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {"unit_id": f"U-{uuid.uuid4().hex[:8]}", "name": "Skola Öst",
                               "administration": "Barn- och utbildningsförvaltningen",
                               "cost_centre": "52100"}
    body.update(overrides)
    return body


async def scalar(system: RunningSystem, service: str, sql: str, **params: object) -> object:
    sessions = system.apps[service].state.sessions
    session: AsyncSession
    async with sessions() as session:
        return (await session.execute(text(sql), params)).scalar_one()


async def test_health_needs_no_token_but_everything_else_does(system_inprocess: RunningSystem
                                                              ) -> None:
    for client in system_inprocess.clients.values():
        assert (await client.get("/healthz")).status_code == 200
    response = await system_inprocess.lifecycle.post("/v1/units", json=new_unit())
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"]


def forged(key: rsa.RSAPrivateKey, **claims: object) -> dict[str, str]:
    now = int(time.time())
    payload = {"sub": "it-1", "roles": ["it-service"], "iss": DEV_ISSUER, "aud": DEV_AUDIENCE,
               "exp": now + 60, **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return {"Authorization": "Bearer " + jwt.encode(payload, key, algorithm="RS256")}


@pytest.mark.parametrize("case", ["foreign-key", "expired", "wrong-audience", "wrong-issuer",
                                  "no-exp", "alg-none"])
async def test_invalid_tokens_are_refused_with_401(system_inprocess: RunningSystem,
                                                   signing_key: rsa.RSAPrivateKey,
                                                   case: str) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers = {
        "foreign-key": forged(other_key),
        "expired": forged(signing_key, exp=int(time.time()) - 10),
        "wrong-audience": forged(signing_key, aud="someone-else"),
        "wrong-issuer": forged(signing_key, iss="evil"),
        "no-exp": forged(signing_key, exp=None),
        "alg-none": {"Authorization": "Bearer " + jwt.encode(
            {"sub": "it-1", "roles": ["it-service"], "iss": DEV_ISSUER, "aud": DEV_AUDIENCE,
             "exp": int(time.time()) + 60}, "", algorithm="none")},
    }[case]
    response = await system_inprocess.lifecycle.post("/v1/units", json=new_unit(),
                                                     headers=headers)
    assert response.status_code == 401, response.text


async def test_wrong_role_is_forbidden_and_changes_nothing(system_inprocess: RunningSystem,
                                                           token_for) -> None:  # type: ignore[no-untyped-def]
    body = new_unit()
    response = await system_inprocess.lifecycle.post("/v1/units", json=body,
                                                     headers=token_for("emp-1", "employee"))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert "it-service" in response.json()["detail"]
    count = await scalar(system_inprocess, "lifecycle",
                         "SELECT count(*) FROM lifecycle.units WHERE unit_id = :u",
                         u=body["unit_id"])
    assert count == 0


async def test_invalid_body_is_422_naming_the_field(system_inprocess: RunningSystem, token_for
                                                    ) -> None:  # type: ignore[no-untyped-def]
    response = await system_inprocess.lifecycle.post(
        "/v1/units", json=new_unit(cost_centre="", unit_id="has spaces", extra="x"),
        headers=token_for())
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"] == PROBLEM
    fields = {e["field"] for e in problem["errors"]}
    assert {"cost_centre", "unit_id", "extra"} <= fields
    assert "cost_centre" in problem["detail"]


async def test_rule_violation_leaves_no_half_change(system_inprocess: RunningSystem, token_for
                                                    ) -> None:  # type: ignore[no-untyped-def]
    outbox_before = await scalar(system_inprocess, "lifecycle",
                                 "SELECT count(*) FROM lifecycle.outbox")
    body = new_unit(parent_unit_id="NO-SUCH-UNIT")
    response = await system_inprocess.lifecycle.post("/v1/units", json=body,
                                                     headers=token_for())
    assert response.status_code == 422
    assert "NO-SUCH-UNIT" in response.json()["detail"]
    assert await scalar(system_inprocess, "lifecycle",
                        "SELECT count(*) FROM lifecycle.units WHERE unit_id = :u",
                        u=body["unit_id"]) == 0
    assert await scalar(system_inprocess, "lifecycle",
                        "SELECT count(*) FROM lifecycle.outbox") == outbox_before


async def test_duplicate_is_409_and_unknown_is_404(system_inprocess: RunningSystem, token_for
                                                   ) -> None:  # type: ignore[no-untyped-def]
    body = new_unit()
    assert (await system_inprocess.lifecycle.post("/v1/units", json=body,
                                                  headers=token_for())).status_code == 201
    again = await system_inprocess.lifecycle.post("/v1/units", json=body, headers=token_for())
    assert again.status_code == 409
    assert again.json()["status"] == 409
    missing = await system_inprocess.lifecycle.get("/v1/units/NOPE", headers=token_for())
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM


async def test_state_change_writes_audit_with_before_and_after(system_inprocess: RunningSystem,
                                                               token_for) -> None:  # type: ignore[no-untyped-def]
    body = new_unit()
    await system_inprocess.lifecycle.post("/v1/units", json=body, headers=token_for("it-7"))
    changed = {k: v for k, v in body.items() if k != "unit_id"} | {"cost_centre": "52101"}
    response = await system_inprocess.lifecycle.put(f"/v1/units/{body['unit_id']}",
                                                    json=changed, headers=token_for("it-8"))
    assert response.status_code == 200
    sessions = system_inprocess.apps["lifecycle"].state.sessions
    async with sessions() as session:
        rows = (await session.execute(text(
            "SELECT actor, action, before, after, trace_id FROM lifecycle.audit_log "
            "WHERE object_type = 'unit' AND object_id = :u ORDER BY id"),
            {"u": body["unit_id"]})).all()
    assert [(r.actor, r.action) for r in rows] == [("it-7", "unit.register"),
                                                   ("it-8", "unit.change")]
    assert rows[0].before is None and rows[0].after["cost_centre"] == "52100"
    assert rows[1].before["cost_centre"] == "52100" and rows[1].after["cost_centre"] == "52101"
    assert rows[1].trace_id  # the audit entry points at the request's trace


async def test_trace_follows_request_through_outbox_and_broker_to_consumer(
    system: RunningSystem, token_for) -> None:  # type: ignore[no-untyped-def]
    body = new_unit()
    response = await system.lifecycle.post("/v1/units", json=body, headers=token_for())
    assert response.status_code == 201
    await eventually(lambda: system.orders.get(f"/v1/units/{body['unit_id']}",
                                               headers=token_for()),
                     lambda r: r.status_code == 200)

    async def finished() -> Any:  # the relay ends its publish span when the confirm arrives,
        return system.spans.get_finished_spans()  # which may be after the consumer committed

    spans = await eventually(finished, lambda found: any(
        s.name == "lifecycle.unit-registered.v1 publish" for s in found))
    consumed = [s for s in spans if s.name == "lifecycle.unit-registered.v1 process"
                and s.resource.attributes["service.name"] == "kommunmobil-orders"]
    server = [s for s in spans if s.name == "POST /v1/units"
              and s.resource.attributes["service.name"] == "kommunmobil-lifecycle"]
    published = [s for s in spans if s.name == "lifecycle.unit-registered.v1 publish"]
    assert consumed and server and published
    request_traces = {s.context.trace_id for s in server}
    # The consumer that applied *this* unit continues the trace of the POST that created it.
    assert any(s.context.trace_id in request_traces for s in consumed)
    assert all(s.parent is not None for s in consumed)


async def test_openapi_documents_every_service(system_inprocess: RunningSystem) -> None:
    for name, client in system_inprocess.clients.items():
        document = (await client.get("/openapi.json")).json()
        assert document["info"]["version"] == "1.0.0", name
        assert (await client.get("/docs")).status_code == 200
