"""The municipality-wide policy as versions (rule R1): read by everyone, changed by the guideline
owner alone, every change audited and published as policy-changed, and a review older than a
year reported as overdue.

Changes made here are put back at the end of each test: the policy is shared by every test of the
session, as it is by every unit of the municipality.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from services.lifecycle.deps import _today
from tests.lifecycle_helpers import outbox
from tests.lifecycle_policy_helpers import OWNER
from tests.system import RunningSystem

ROLES = ("employee", "department-head", "orderer", "it-service", "auditor", "guideline-owner")


async def current(client: Any, token_for: Any) -> dict[str, Any]:
    response = await client.get("/v1/policy", headers=token_for("e-1", "employee"))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def restored(system_inprocess: RunningSystem, token_for: Any
                   ) -> AsyncIterator[dict[str, Any]]:
    """The policy as it was; put back afterwards if a test changed it."""
    client = system_inprocess.lifecycle
    before = await current(client, token_for)
    yield before
    now = await current(client, token_for)
    if now["parameters"] != before["parameters"]:
        response = await client.put("/v1/policy", headers=token_for(*OWNER), json={
            "parameters": before["parameters"], "based_on_version": now["policy_version"],
            "note": "put back after a test"})
        assert response.status_code == 200, response.text


def with_channel(parameters: dict[str, Any], place: str) -> dict[str, Any]:
    channels = [c for c in parameters["support_channels"] if c["kind"] != "visit"]
    return {**parameters, "support_channels": [*channels, {"kind": "visit", "value": place}]}


async def test_r1_the_seeded_policy_is_the_guideline_of_2020_10_22(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    history = await system_inprocess.lifecycle.get(
        "/v1/policy/history", params={"scope": "municipality"},
        headers=token_for("e-1", "employee"))
    first = history.json()[-1]
    assert (first["policy_version"], first["reviewed_on"]) == (1, "2020-10-22")
    assert first["document"]["tiers_on_offer"] == ["robust", "simple", "standard", "advanced"]
    assert first["document"]["tiers_requiring_justification"] == ["advanced"]
    assert {c["value"] for c in first["document"]["support_channels"]} >= {"0370-377800"}


async def test_r1_a_review_older_than_one_year_is_reported_overdue(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    app, client = system_inprocess.apps["lifecycle"], system_inprocess.lifecycle
    reviewed_on = date.fromisoformat((await current(client, token_for))["reviewed_on"])
    due = reviewed_on.replace(year=reviewed_on.year + 1) if not (
        reviewed_on.month == 2 and reviewed_on.day == 29) else date(reviewed_on.year + 1, 2, 28)
    try:
        for today, overdue, days in ((due, False, 0), (due + timedelta(days=1), True, 1),
                                     (due + timedelta(days=40), True, 40)):
            app.dependency_overrides[_today] = lambda today=today: today
            review = await client.get("/v1/policy/review", headers=token_for("e-1", "employee"))
            assert review.json() == {"reviewed_on": reviewed_on.isoformat(),
                                     "review_due_on": due.isoformat(), "overdue": overdue,
                                     "days_overdue": days}, today
            assert (await current(client, token_for))["review"]["overdue"] is overdue
    finally:
        app.dependency_overrides.pop(_today, None)


async def test_r1_a_change_is_a_new_version_audited_published_and_a_review(
        system_inprocess: RunningSystem, token_for: Any, restored: dict[str, Any]) -> None:
    system, client = system_inprocess, system_inprocess.lifecycle
    changed = with_channel(restored["parameters"], "IT-service, Stadshuset, plan 2")
    response = await client.put("/v1/policy", headers=token_for(*OWNER), json={
        "parameters": changed, "based_on_version": restored["policy_version"],
        "note": "IT service moved to the second floor"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["policy_version"] > restored["policy_version"]
    assert body["parameters"] == changed and body["changed_by"] == OWNER[0]
    assert body["review"]["overdue"] is False  # a change is a review (rule R1)
    assert (await current(client, token_for))["policy_version"] == body["policy_version"]

    events = await outbox(system, "lifecycle.policy-changed.v1", "policy")
    event = next(e for e in events if e["policy_version"] == body["policy_version"])
    assert (event["changed_scope"], event["changed_by"], event["municipal"],
            event["reviewed_on"]) == ("municipality", OWNER[0], changed, body["reviewed_on"])
    async with system.apps["lifecycle"].state.sessions() as session:
        audit = (await session.execute(text(
            "SELECT actor, before, after FROM lifecycle.audit_log WHERE action = 'policy.change' "
            "AND after->>'policy_version' = :v"), {"v": str(body["policy_version"])})).one()
    assert audit.actor == OWNER[0]
    assert audit.before["document"] == restored["parameters"]
    assert audit.after["document"] == changed

    stale = await client.put("/v1/policy", headers=token_for(*OWNER), json={
        "parameters": restored["parameters"], "based_on_version": restored["policy_version"],
        "note": "made from an old copy"})
    assert stale.status_code == 409 and stale.json()["current_version"] == body["policy_version"]


async def test_r1_a_review_that_changes_nothing_is_recorded_too(
        system_inprocess: RunningSystem, token_for: Any, restored: dict[str, Any]) -> None:
    client = system_inprocess.lifecycle
    reviewed = await client.post("/v1/policy/reviews", headers=token_for(*OWNER),
                                 json={"note": "Yearly review: no changes"})
    assert reviewed.status_code == 201, reviewed.text
    body = reviewed.json()
    assert body["parameters"] == restored["parameters"]
    assert body["policy_version"] > restored["policy_version"]
    assert body["review"]["overdue"] is False
    future = await client.post("/v1/policy/reviews", headers=token_for(*OWNER), json={
        "reviewed_on": (date.fromisoformat(body["reviewed_on"]) + timedelta(days=2)).isoformat(),
        "note": "tomorrow's review"})
    assert future.status_code == 422 and "R1" in future.json()["detail"]
    older = await client.post("/v1/policy/reviews", headers=token_for(*OWNER), json={
        "reviewed_on": "2020-01-01", "note": "backdated"})
    assert older.status_code == 422 and "already reviewed" in older.json()["detail"]


@pytest.mark.parametrize("broken, field", [
    ({"tiers_on_offer": []}, None),
    ({"tiers_on_offer": ["robust", "gold"]}, "parameters.tiers_on_offer.1"),
    ({"escalation_interval_days": 0}, "parameters.escalation_interval_days"),
    # rule U7: due on the last day; a policy may bring it earlier, never later
    ({"return_due_days_after_last_day": 5}, "parameters.return_due_days_after_last_day"),
    ({"support_channels": []}, None),
    ({"surprise": True}, "parameters.surprise"),
])
async def test_r1_an_invalid_policy_is_refused_and_changes_nothing(
        system_inprocess: RunningSystem, token_for: Any, restored: dict[str, Any],
        broken: dict[str, Any], field: str | None) -> None:
    client = system_inprocess.lifecycle
    response = await client.put("/v1/policy", headers=token_for(*OWNER), json={
        "parameters": {**restored["parameters"], **broken},
        "based_on_version": restored["policy_version"], "note": "broken"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if field:
        assert field in [e["field"] for e in response.json()["errors"]]
    assert (await current(client, token_for))["policy_version"] == restored["policy_version"]


@pytest.mark.parametrize("role", ROLES)
async def test_r1_b5_only_the_guideline_owner_writes_everyone_reads(
        system_inprocess: RunningSystem, token_for: Any, restored: dict[str, Any],
        role: str) -> None:
    client = system_inprocess.lifecycle
    who = token_for(f"{role}-9", role)
    terms = (await client.get("/v1/private-use/terms", headers=who)).json()["text"]
    for path in ("/v1/policy", "/v1/policy/review", "/v1/policy/history", "/v1/policy/local",
                 "/v1/private-use/terms"):
        assert (await client.get(path, headers=who)).status_code == 200, path
        assert (await client.get(path)).status_code == 401, path
    writes = [
        ("PUT", "/v1/policy", {"parameters": with_channel(restored["parameters"], f"{role} x"),
                               "based_on_version": restored["policy_version"], "note": role}),
        ("POST", "/v1/policy/reviews", {"note": f"review by {role}"}),
        ("PUT", "/v1/policy/units/NO-SUCH-UNIT", {"rules": {}, "note": role}),
        ("POST", "/v1/private-use/terms", {"text": f"{terms}\n(Reviewed: {role}.)"}),
    ]
    for method, path, body in writes:
        response = await client.request(method, path, headers=who, json=body)
        owner_expects = {"/v1/policy/units/NO-SUCH-UNIT": 404, "/v1/policy": 200}.get(path, 201)
        expected = owner_expects if role == "guideline-owner" else 403
        assert response.status_code == expected, (method, path, response.text)
        assert (await client.request(method, path, json=body)).status_code == 401
