"""Local rules (rule B5): an administration or unit may add stricter rules and never relax a
municipality-wide one (nor the rules above it); the effective policy of a unit combines them, is
served to everyone, and is published for the other services."""

from __future__ import annotations

from typing import Any

from tests.lifecycle_helpers import hr_send, minutes, new_id, outbox
from tests.lifecycle_policy_helpers import (
    register,
    set_administration_rules,
    set_unit_rules,
)
from tests.system import RunningSystem

NO_ADVANCED = ["robust", "simple", "standard"]


def event_for(events: list[dict[str, Any]], scope: str, scope_id: str) -> dict[str, Any]:
    """The newest policy-changed, and in it the local entry of one scope."""
    newest = max(events, key=lambda e: e["policy_version"])
    return next(e for e in newest["local"] if (e["scope"], e["scope_id"]) == (scope, scope_id))


async def unit_policy(client: Any, token_for: Any, unit: str) -> dict[str, Any]:
    response = await client.get(f"/v1/policy/units/{unit}", headers=token_for("e-1", "employee"))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_b5_a_unit_may_take_the_advanced_tier_off_its_offer(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, client = system_inprocess, system_inprocess.lifecycle
    unit, administration = new_id("SOC"), f"Förvaltning {new_id('F')}"
    await register(client, unit, new_id("H"), administration=administration)
    response = await set_unit_rules(client, token_for, unit, {
        "tiers_on_offer": ["standard", "robust", "simple", "robust"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rules"]["tiers_on_offer"] == NO_ADVANCED  # in the guideline's order, once
    assert body["effective"]["tiers_on_offer"] == NO_ADVANCED
    assert body["sources"]["tiers_on_offer"] == f"unit {unit}"
    served = await unit_policy(client, token_for, unit)
    assert (served["administration"], served["effective"]["tiers_on_offer"]) == (
        administration, NO_ADVANCED)
    assert served["effective"]["escalation_interval_days"] == 7  # the rest as the municipality's
    entry = event_for(await outbox(system, "lifecycle.policy-changed.v1", "policy"), "unit", unit)
    assert entry["effective"]["tiers_on_offer"] == NO_ADVANCED
    assert entry["policy_version"] == body["policy_version"]
    again = await set_unit_rules(client, token_for, unit, {"tiers_on_offer": NO_ADVANCED})
    assert again.status_code == 409


async def test_b5_relaxing_a_rule_above_is_refused_with_every_reason_and_changes_nothing(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, client = system_inprocess, system_inprocess.lifecycle
    administration = f"Förvaltning {new_id('F')}"
    unit = new_id("SOC")
    await register(client, unit, new_id("H"), administration=administration)
    strict = await set_administration_rules(client, token_for, administration, {
        "tiers_on_offer": NO_ADVANCED, "return_due_days_after_last_day": -2,
        "private_use_allowed": False})
    assert strict.status_code == 200, strict.text
    published = await outbox(system, "lifecycle.policy-changed.v1", "policy")
    assert (published[-1]["changed_scope"], published[-1]["changed_scope_id"]) == (
        "administration", administration)
    published_before = len(published)

    relaxing = await set_unit_rules(client, token_for, unit, {
        "tiers_on_offer": ["standard", "advanced"], "tiers_requiring_justification": [],
        "return_due_days_after_last_day": 0, "escalation_interval_days": 10,
        "private_use_allowed": True})
    assert relaxing.status_code == 422, relaxing.text
    problem = relaxing.json()
    assert problem["detail"].startswith("Rule B5:")
    reasons = {r["parameter"]: r["reason"] for r in problem["relaxed"]}
    assert set(reasons) == {"tiers_on_offer", "tiers_requiring_justification",
                            "return_due_days_after_last_day", "escalation_interval_days",
                            "private_use_allowed"}
    assert f"administration {administration}" in reasons["tiers_on_offer"]
    assert "advanced" in reasons["tiers_on_offer"]
    assert "the municipality-wide policy" in reasons["escalation_interval_days"]
    assert "the municipality-wide policy" in reasons["tiers_requiring_justification"]
    assert f"administration {administration}" in reasons["private_use_allowed"]

    history = await client.get("/v1/policy/history", params={"scope": "unit", "scope_id": unit},
                               headers=token_for("e-1", "employee"))
    assert history.json() == []
    assert len(await outbox(system, "lifecycle.policy-changed.v1", "policy")) == published_before
    served = await unit_policy(client, token_for, unit)
    assert (served["effective"]["tiers_on_offer"], served["effective"]["private_use_allowed"],
            served["effective"]["return_due_days_after_last_day"]) == (NO_ADVANCED, False, -2)
    assert served["sources"]["private_use_allowed"] == f"administration {administration}"

    admin_relaxing = await set_administration_rules(client, token_for, administration,
                                                    {"escalation_interval_days": 30})
    assert admin_relaxing.status_code == 422
    assert "the municipality-wide policy" in admin_relaxing.json()["detail"]


async def test_b5_units_inherit_from_their_parents_and_may_only_tighten_further(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    client = system_inprocess.lifecycle
    administration = f"Förvaltning {new_id('F')}"
    parent, child = new_id("PAR"), new_id("CHI")
    await register(client, parent, new_id("H"), administration=administration)
    await register(client, child, new_id("H"), administration=administration, parent=parent)
    assert (await set_unit_rules(client, token_for, parent,
                                 {"escalation_interval_days": 3})).status_code == 200
    inherited = await unit_policy(client, token_for, child)
    assert inherited["effective"]["escalation_interval_days"] == 3
    assert inherited["sources"]["escalation_interval_days"] == f"unit {parent}"
    looser = await set_unit_rules(client, token_for, child, {"escalation_interval_days": 5})
    assert looser.status_code == 422 and f"unit {parent}" in looser.json()["detail"]
    tighter = await set_unit_rules(client, token_for, child, {
        "escalation_interval_days": 2,
        "tiers_requiring_justification": ["standard", "advanced"]})
    assert tighter.status_code == 200, tighter.text
    served = await unit_policy(client, token_for, child)
    assert served["effective"]["escalation_interval_days"] == 2
    assert served["effective"]["tiers_requiring_justification"] == ["standard", "advanced"]
    assert [(r["scope"], r["scope_id"]) for r in served["rules_applied"]] == [
        ("unit", parent), ("unit", child)]

    # Lifting the parent's rule later does not let the child's rule relax anything: the
    # child's stays as it was set; the combination is always the strictest.
    cleared = await set_unit_rules(client, token_for, parent, {})
    assert cleared.status_code == 200, cleared.text
    assert (await unit_policy(client, token_for, child))["effective"][
        "escalation_interval_days"] == 2


async def test_b5_a_unit_moved_to_another_administration_gets_that_administrations_rules(
        system: RunningSystem, token_for: Any) -> None:
    client = system.lifecycle
    strict_admin, lax_admin = f"Förvaltning {new_id('F')}", f"Förvaltning {new_id('F')}"
    unit, other = new_id("MOV"), new_id("SOC")
    await register(client, other, new_id("H"), administration=strict_admin)
    await register(client, unit, new_id("H"), administration=lax_admin)
    assert (await set_administration_rules(client, token_for, strict_admin, {
        "tiers_on_offer": ["robust"]})).status_code == 200
    assert (await set_unit_rules(client, token_for, unit, {
        "escalation_interval_days": 4})).status_code == 200
    moved = await hr_send(client, "unit.changed", {
        "unit_id": unit, "name": f"Enhet {unit}", "administration": strict_admin,
        "cost_centre": "41230", "head_person_id": None}, recorded_at=minutes(30))
    assert moved.json()["outcome"] == "applied", moved.text
    served = await unit_policy(client, token_for, unit)
    assert served["effective"]["tiers_on_offer"] == ["robust"]
    events = await outbox(system, "lifecycle.policy-changed.v1", "policy")
    last = events[-1]
    assert (last["changed_scope"], last["changed_scope_id"]) == ("unit", unit)
    assert event_for([last], "unit", unit)["effective"]["tiers_on_offer"] == ["robust"]


async def test_b5_rules_for_unknown_scopes_are_404(system_inprocess: RunningSystem,
                                                    token_for: Any) -> None:
    client = system_inprocess.lifecycle
    assert (await set_unit_rules(client, token_for, "NO-SUCH", {})).status_code == 404
    assert (await set_administration_rules(client, token_for, "Ingen förvaltning",
                                           {})).status_code == 404
    assert (await client.get("/v1/policy/units/NO-SUCH",
                             headers=token_for("e-1", "employee"))).status_code == 404
    municipal_only = await set_unit_rules(client, token_for, "NO-SUCH",
                                          {"support_channels": []})
    assert municipal_only.status_code == 422  # not a local rule at all (S1 is municipal)
