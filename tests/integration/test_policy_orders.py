"""Orders enforces the effective policy lifecycle publishes (rules B5, O4): a tier a unit's (or
its parent's, or its administration's) local rules take off the offer is refused when the order
is placed, and a tier they require a justification for needs one. Orders learns the policy only
from policy-changed; an older policy-changed arriving late changes nothing."""

from __future__ import annotations

from typing import Any

from services.orders import policy
from shared.db import driver_transaction
from shared.events.catalogue import PolicyChanged, UnitChanged, UnitRegistered
from tests.lifecycle_policy_helpers import OWNER, set_administration_rules, set_unit_rules
from tests.orders_world import Unit, World, uid
from tests.system import RunningSystem, eventually

ADVANCED, STANDARD = "phone-advanced-iphone-16-pro", "phone-standard-galaxy-a56"


async def until_orders_has_policy(world: World, version: int) -> None:
    seen = await eventually(
        lambda: world.sql("SELECT coalesce(max(policy_version), 0) FROM orders.policy_snapshot"),
        lambda v: v >= version)
    assert seen >= version, f"orders never applied policy version {version}"


async def test_b5_o4_an_order_for_a_tier_the_unit_does_not_offer_is_refused(
        system: RunningSystem, token_for: Any) -> None:
    world = World(system, token_for)
    unit, orderer, employee = await world.staffed_unit()
    before = await world.place(unit, orderer, employee, ADVANCED,
                               justification="Field work with heavy photo documentation")
    assert before.status_code == 201, before.text
    rules = await set_unit_rules(system.lifecycle, token_for, unit.unit_id,
                                 {"tiers_on_offer": ["robust", "simple", "standard"]})
    assert rules.status_code == 200, rules.text
    await until_orders_has_policy(world, rules.json()["policy_version"])

    refused = await world.place(unit, orderer, employee, ADVANCED,
                                justification="Field work with heavy photo documentation")
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["rule"] == "B5" and f"unit {unit.unit_id}" in problem["detail"]
    assert "advanced-tier" in problem["detail"] and "robust, simple, standard" in problem["detail"]
    assert (await world.place(unit, orderer, employee, STANDARD)).status_code == 201


async def test_b5_o4_a_parents_rule_requiring_justification_applies_to_its_units(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system = system_inprocess
    world = World(system, token_for)
    parent = await world.unit()
    unit, orderer, employee = await world.staffed_unit(parent=parent.unit_id)
    rules = await set_unit_rules(system.lifecycle, token_for, parent.unit_id, {
        "tiers_requiring_justification": ["standard", "advanced"]})
    assert rules.status_code == 200, rules.text
    await until_orders_has_policy(world, rules.json()["policy_version"])
    bare = await world.place(unit, orderer, employee, STANDARD)
    assert bare.status_code == 422 and "justification" in bare.json()["detail"], bare.text
    assert f"unit {parent.unit_id}" in bare.json()["detail"]
    justified = await world.place(unit, orderer, employee, STANDARD,
                                  justification="Replaces a broken robust phone in the office")
    assert justified.status_code == 201, justified.text


async def test_b5_o4_an_administrations_rule_applies_to_every_unit_in_it(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system = system_inprocess
    world = World(system, token_for)
    administration, unit_id, head = f"Förvaltning {uid('F')}", uid("U"), uid("head")
    created = await system.lifecycle.post("/v1/units", headers=token_for(), json={
        "unit_id": unit_id, "name": "Tekniska", "administration": administration,
        "cost_centre": "51000", "head_person_id": head})
    assert created.status_code == 201, created.text
    await world.until_unit(unit_id, lambda body: body["head_person_id"] == head)
    unit = Unit(unit_id, head, "51000")
    orderer, employee = await world.hire(unit), await world.hire(unit)
    assert (await world.appoint(unit, orderer)).status_code == 201
    rules = await set_administration_rules(system.lifecycle, token_for, administration,
                                           {"tiers_on_offer": ["robust"]})
    assert rules.status_code == 200, rules.text
    await until_orders_has_policy(world, rules.json()["policy_version"])
    refused = await world.place(unit, orderer, employee, STANDARD)
    assert refused.status_code == 422 and f"administration {administration}" in \
        refused.json()["detail"], refused.text
    assert (await world.place(unit, orderer, employee, "phone-robust-xcover7")).status_code \
        == 201


async def test_b5_an_older_policy_changed_arriving_late_changes_nothing(
        system: RunningSystem, token_for: Any) -> None:
    world = World(system, token_for)
    unit, orderer, employee = await world.staffed_unit()
    rules = await set_unit_rules(system.lifecycle, token_for, unit.unit_id,
                                 {"tiers_on_offer": ["robust", "simple", "standard"]})
    await until_orders_has_policy(world, rules.json()["policy_version"])
    policy = (await system.lifecycle.get("/v1/policy", headers=token_for(*OWNER))).json()
    stale = PolicyChanged(policy_version=1, changed_scope="municipality", changed_by="old",
                          reviewed_on=policy["reviewed_on"],  # type: ignore[arg-type]
                          municipal=policy["parameters"], local=())
    await world.inject(stale, subject="policy")  # an old version, delivered late
    refused = await world.place(unit, orderer, employee, ADVANCED,
                                justification="Field work with heavy photo documentation")
    assert refused.status_code == 422 and refused.json()["rule"] == "B5", refused.text


async def test_b5_the_units_whose_local_rules_apply_are_the_unit_and_its_parents_upwards(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    """The walk up the parents orders knows of (one recursive statement): a parent it has not
    learnt of yet still counts, since policy-changed may already carry that unit's rules, and a
    cycle in the parents (two unit-changed events racing) ends the walk instead of looping."""
    world = World(system_inprocess, token_for)
    top, middle, unit, unknown, a, b = (uid(p) for p in ("TOP", "MID", "U", "NEW", "A", "B"))

    def registered(unit_id: str, parent: str | None, administration: str = "Adm 1"
                   ) -> UnitRegistered:
        return UnitRegistered(unit_id=unit_id, name=unit_id, administration=administration,
                              cost_centre="41230", head_person_id=uid("head"),
                              parent_unit_id=parent)

    for event in (registered(top, unknown, "Adm top"), registered(middle, top, "Adm mid"),
                  registered(unit, middle, "Adm unit"), registered(a, None),
                  registered(b, a), UnitChanged(**registered(a, b).model_dump())):
        await world.inject(event, subject=event.unit_id)
    engine = system_inprocess.apps["orders"].state.runtime.engine
    async with driver_transaction(engine, "orders") as db:
        assert await policy.units_upwards(db, unit) == ([unit, middle, top, unknown], "Adm unit")
        assert await policy.units_upwards(db, a) == ([a, b], "Adm 1")
        assert await policy.units_upwards(db, unknown) == ([unknown], None)
