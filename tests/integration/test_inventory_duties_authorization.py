"""The authorization matrix of usage and costs (P2), support and repair (S1–S5) and fixed
telephony (B4, U1–U3): statements — the head for their cost centre, the employee for their own;
flags — the head decides; telephony readiness — the person and their manager; support cases —
the person's own; IT service manages; the auditor reads; the machines (MDM, telephony platform)
reach only their own endpoint. Everything else is 403, and 401 without a token."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.inventory.domain_support import WARNING_SHA256
from tests.integration.test_inventory_duties_helpers import (
    hired,
    import_usage,
    issued_phone,
    label,
    suffix,
    this_month,
    unit,
    usage_csv,
)
from tests.system import RunningSystem

ROLES: dict[str, tuple[str, ...]] = {
    "it": ("it-1", "it-service"),
    "auditor": ("aud-1", "auditor"),
    "head-a": ("dz-head-a", "department-head", "employee"),
    "head-b": ("dz-head-b", "department-head", "employee"),
    "manager": ("dz-manager", "employee"),
    "holder": ("dz-p1", "employee"),
    "other": ("dz-p2", "employee", "orderer"),
    "owner": ("dz-owner", "guideline-owner"),
    "mdm": ("intune", "mdm"),
    "telephony": ("touchpoint", "telephony"),
}
MACHINES = {"mdm", "telephony"}


@pytest.fixture(scope="module")
async def world(system_inprocess: RunningSystem, token_for: Any) -> dict[str, Any]:
    """Unit A (head-a, cost centre CC-A) where the holder works under the manager, unit B
    (head-b); the holder's phone with a subscription, a flagged private cost, a support case,
    a second phone of theirs in repair, and their extension."""
    system, it, s = system_inprocess, token_for(*ROLES["it"]), suffix()
    a, b, cost_centre = f"DZA-{s}", f"DZB-{s}", f"CCA{s}"
    await unit(system, a, "dz-head-a", cost_centre)
    await unit(system, b, "dz-head-b", f"CCB{s}")
    await hired(system, "dz-p1", a, "dz-manager")
    await hired(system, "dz-p2", b, None)
    phone = await issued_phone(system, it, person="dz-p1", unit_id=a, cost_centre=cost_centre)
    month = label(this_month())
    imported = await import_usage(system, it, usage_csv(
        (phone["msisdn"], month, "flat-fee", "149.00"),
        (phone["msisdn"], month, "roaming", "75.00")))
    assert imported.status_code == 201, imported.text
    flags = (await system.inventory.get("/v1/usage/flags", headers=token_for(
        *ROLES["head-a"]))).json()
    case = await system.inventory.post("/v1/support/cases", headers=token_for(*ROLES["holder"]),
                                       json={"category": "email", "description": "No mail"})
    second = await issued_phone(system, it, person="dz-p1", unit_id=a, cost_centre=cost_centre,
                                with_subscription=False)
    repair = await system.inventory.post("/v1/repairs", headers=it, json={
        "device_id": second["device_id"], "fault": "Broken", "warning": {
            "person_id": "dz-p1", "confirmed": True, "text_sha256": WARNING_SHA256}})
    assert repair.status_code == 201, repair.text
    report = await system.inventory.post("/v1/telephony/reports", headers=token_for(
        *ROLES["telephony"]), json={"report_id": f"dz-{s}", "observed_at": "2026-03-02T08:00:00Z",
                                    "extensions": [{"extension_id": f"dz-{s}",
                                                    "number": "0370-377111", "kind": "fixed",
                                                    "person_id": "dz-p1",
                                                    "presence": "available"}]})
    assert report.status_code == 201, report.text
    return {"cost_centre": cost_centre, "period": month, "flag": flags[0]["flag_id"],
            "import": imported.json()["import_id"], "case": case.json()["case_id"],
            "repair": repair.json()["repair"]["repair_id"]}


READS: list[tuple[str, set[str]]] = [
    # (path, who may read it); everyone else gets 403
    ("/v1/statements/cost-centres/{cost_centre}?period={period}", {"it", "auditor", "head-a"}),
    ("/v1/statements/cost-centres/{cost_centre}?period={period}&format=csv",
     {"it", "auditor", "head-a"}),
    ("/v1/statements/people/dz-p1?period={period}", {"it", "auditor", "holder"}),
    ("/v1/usage/imports/{import}", {"it", "auditor"}),
    ("/v1/usage/flags", {"it", "auditor", "head-a", "head-b"}),
    ("/v1/support/cases/{case}", {"it", "auditor", "holder"}),
    ("/v1/repairs", {"it", "auditor"}),
    ("/v1/repairs/{repair}", {"it", "auditor", "head-a", "holder"}),
    ("/v1/telephony/extensions", {"it", "auditor"}),
    ("/v1/telephony/readiness/people/dz-p1", {"it", "auditor", "manager", "holder"}),
    ("/v1/telephony/readiness/staff?manager_id=dz-manager", {"it", "auditor", "manager"}),
    # every person (not the machines)
    ("/v1/support/channels", set(ROLES) - MACHINES),
    ("/v1/support/repair-warning", set(ROLES) - MACHINES),
    ("/v1/support/apps", set(ROLES) - MACHINES),
    ("/v1/support/cases", set(ROLES) - MACHINES),
    ("/v1/telephony/readiness/me", set(ROLES) - MACHINES),
    ("/v1/telephony/readiness/staff", set(ROLES) - MACHINES),
]


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize(("path", "readers"), READS, ids=[p for p, _ in READS])
async def test_p2_s4_u1_reads_are_checked_per_object(
        system_inprocess: RunningSystem, token_for: Any, world: dict[str, Any], role: str,
        path: str, readers: set[str]) -> None:
    url = path.format(**world)
    response = await system_inprocess.inventory.get(url, headers=token_for(*ROLES[role]))
    assert response.status_code == (200 if role in readers else 403), (role, url, response.text)
    assert (await system_inprocess.inventory.get(url)).status_code == 401


async def test_p2_a_head_sees_only_their_units_flags(
        system_inprocess: RunningSystem, token_for: Any, world: dict[str, Any]) -> None:
    seen = {role: {f["flag_id"] for f in (await system_inprocess.inventory.get(
        "/v1/usage/flags", headers=token_for(*ROLES[role]))).json()}
        for role in ("head-a", "head-b")}
    assert world["flag"] in seen["head-a"] and world["flag"] not in seen["head-b"]


WRITES: list[tuple[str, str, Any, set[str]]] = [
    # (method, path, body, who may); the body is valid where it matters, so that only the
    # caller decides the answer; everyone else gets 403
    ("POST", "/v1/usage/imports", None, {"it"}),
    ("POST", "/v1/usage/flags/{flag}/resolve", {"charge_to": "unit"}, {"head-a"}),
    ("PUT", "/v1/support/apps/dz-app", {"name": "A", "owner": "B", "contact": "C-desk"},
     {"it"}),
    ("POST", "/v1/support/cases/{case}/close", {"resolution": "fixed"}, {"it"}),
    ("POST", "/v1/repairs", {}, {"it"}),
    ("POST", "/v1/repairs/{repair}/return", {}, {"it"}),
    ("POST", "/v1/repairs/{repair}/replace", {}, {"it"}),
    ("POST", "/v1/telephony/sync", None, {"it"}),
    ("POST", "/v1/telephony/reports", {}, {"telephony"}),
]


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize(("method", "path", "body", "writers"), WRITES,
                         ids=[f"{m} {p}" for m, p, _, _ in WRITES])
async def test_p2_s3_s4_b4_only_the_right_caller_changes_anything(
        system_inprocess: RunningSystem, token_for: Any, world: dict[str, Any], role: str,
        method: str, path: str, body: Any, writers: set[str]) -> None:
    url = path.format(**world)
    if role in writers:
        return  # proven by the flows (test_inventory_usage, _support, _telephony)
    response = await system_inprocess.inventory.request(
        method, url, json=body, headers=token_for(*ROLES[role]))
    assert response.status_code == 403, (role, method, url, response.text)
    assert (await system_inprocess.inventory.request(method, url, json=body)).status_code == 401


@pytest.mark.parametrize("role", sorted(set(ROLES) - MACHINES))
async def test_s5_a_person_opens_cases_only_for_themselves(
        system_inprocess: RunningSystem, token_for: Any, role: str) -> None:
    for_other = await system_inprocess.inventory.post(
        "/v1/support/cases", headers=token_for(*ROLES[role]),
        json={"category": "email", "description": "x" * 5, "person_id": f"x-{uuid.uuid4()}"})
    assert for_other.status_code == (201 if role == "it" else 403), role


@pytest.mark.parametrize("role", sorted(MACHINES))
async def test_b4_the_machines_reach_only_their_own_endpoint(
        system_inprocess: RunningSystem, token_for: Any, role: str) -> None:
    response = await system_inprocess.inventory.post(
        "/v1/support/cases", headers=token_for(*ROLES[role]),
        json={"category": "email", "description": "x" * 5})
    assert response.status_code == 403
    other = "/v1/mdm/compliance-reports" if role == "telephony" else "/v1/telephony/reports"
    crossed = await system_inprocess.inventory.post(other, headers=token_for(*ROLES[role]),
                                                    json={})
    assert crossed.status_code == 403
