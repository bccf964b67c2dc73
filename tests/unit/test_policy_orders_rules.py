"""Orders' side of the policy without a database (rules B5, O4): which published entry applies
to a unit, and the tier check of an order line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.lifecycle import domain_policy
from services.orders.domain import Item, Line
from services.orders.policy import check_lines, resolve
from shared.errors import RuleViolation
from shared.events.catalogue import (
    LocalPolicy,
    LocalRules,
    PolicyChanged,
    PolicyParameters,
    SupportChannel,
)

MUNICIPAL = PolicyParameters(
    tiers_on_offer=("robust", "simple", "standard", "advanced"),
    tiers_requiring_justification=("advanced",), return_due_days_after_last_day=0,
    escalation_interval_days=7, private_use_allowed=True, private_cost_categories=(),
    support_channels=(SupportChannel(kind="phone", value="0370-377800"),))


def local(scope: str, scope_id: str, rules: LocalRules) -> LocalPolicy:
    effective = domain_policy.effective(MUNICIPAL, [(scope_id, rules)]).parameters
    return LocalPolicy(scope=scope, scope_id=scope_id, policy_version=2,  # type: ignore[arg-type]
                       rules=rules, effective=effective)


POLICY = PolicyChanged(
    policy_version=3, changed_scope="unit", changed_by="go-1", reviewed_on=date(2026, 1, 1),
    municipal=MUNICIPAL, local=(
        local("administration", "SOC", LocalRules(tiers_on_offer=("robust", "simple",
                                                                  "standard"))),
        local("unit", "SOC-HT", LocalRules(tiers_on_offer=("robust",))),
    ))


@pytest.mark.parametrize("units, administration, tiers, source", [
    (["SOC-HT"], "SOC", ("robust",), "unit SOC-HT"),
    (["SOC-HT-N", "SOC-HT"], "SOC", ("robust",), "unit SOC-HT"),  # the parent's entry
    (["SOC-ÄO"], "SOC", ("robust", "simple", "standard"), "administration SOC"),
    (["KS-1"], "KS", ("robust", "simple", "standard", "advanced"), "the municipality"),
    (["KS-1"], None, ("robust", "simple", "standard", "advanced"), "the municipality"),
])
def test_b5_the_first_published_entry_up_the_unit_tree_applies(
        units: list[str], administration: str | None, tiers: tuple[str, ...],
        source: str) -> None:
    effective, found = resolve(POLICY, units, administration)
    assert (effective.tiers_on_offer, found) == (tiers, source)


def phone(tier: str) -> Line:
    return Line(Item(item_id=f"phone-{tier}", kind="phone", name=f"A {tier} phone",
                     one_time_price_sek=Decimal(1), monthly_price_sek=Decimal(0), tier=tier), 1)


def test_b5_o4_a_tier_not_on_offer_is_refused_and_one_needing_justification_needs_it() -> None:
    effective = MUNICIPAL.model_copy(update={
        "tiers_on_offer": ("robust", "standard"),
        "tiers_requiring_justification": ("standard", "advanced")})
    check_lines([phone("robust")], None, effective, unit_id="U", source="unit U")
    check_lines([phone("standard")], "Needs a camera", effective, unit_id="U", source="unit U")
    with pytest.raises(RuleViolation, match="does not offer; it offers robust, standard"):
        check_lines([phone("advanced")], "x", effective, unit_id="U", source="unit U")
    with pytest.raises(RuleViolation, match="requires a written justification") as refused:
        check_lines([phone("standard")], "  ", effective, unit_id="U", source="unit U")
    assert refused.value.extra["rule"] == "B5"
    tablet = Line(Item(item_id="t", kind="tablet", name="Tablet", tier="advanced",
                       one_time_price_sek=Decimal(1), monthly_price_sek=Decimal(0)), 1)
    check_lines([tablet], None, effective, unit_id="U", source="unit U")  # tiers are phones'
