"""The guideline as a policy, without a database (rules B5, R1): "stricter" parameter by
parameter, local rules refused with their reasons, the effective policy of a scope, and the
yearly review."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest

from services.lifecycle import domain_policy as p
from shared.errors import RuleViolation
from shared.events.catalogue import LocalRules, PolicyParameters, SupportChannel

MUNICIPAL = PolicyParameters(
    tiers_on_offer=("robust", "simple", "standard", "advanced"),
    tiers_requiring_justification=("advanced",), return_due_days_after_last_day=0,
    escalation_interval_days=7, private_use_allowed=True,
    private_cost_categories=("international-calls", "premium-services", "roaming"),
    support_channels=(SupportChannel(kind="phone", value="0370-377800"),))


# --- "stricter", parameter by parameter ---------------------------------------------------


@pytest.mark.parametrize("parameter, above, local, stricter", [
    ("tiers_on_offer", ["robust", "simple", "standard", "advanced"], ["robust", "standard"], True),
    ("tiers_on_offer", ["robust", "standard"], ["robust", "standard"], True),
    ("tiers_on_offer", ["robust", "standard"], [], True),
    ("tiers_on_offer", ["robust", "standard"], ["standard", "advanced"], False),
    ("tiers_requiring_justification", ["advanced"], ["standard", "advanced"], True),
    ("tiers_requiring_justification", ["advanced"], ["advanced"], True),
    ("tiers_requiring_justification", ["advanced"], [], False),
    ("tiers_requiring_justification", ["standard", "advanced"], ["advanced"], False),
    ("return_due_days_after_last_day", 0, -3, True),
    ("return_due_days_after_last_day", 0, 0, True),
    ("return_due_days_after_last_day", -3, 0, False),
    ("escalation_interval_days", 7, 3, True),
    ("escalation_interval_days", 7, 7, True),
    ("escalation_interval_days", 7, 14, False),
    ("private_use_allowed", True, False, True),
    ("private_use_allowed", True, True, True),
    ("private_use_allowed", False, False, True),
    ("private_use_allowed", False, True, False),
])
def test_b5_stricter_is_defined_per_parameter(parameter: str, above: Any, local: Any,
                                              stricter: bool) -> None:
    assert p.STRICTER[parameter](above, local) is stricter


def test_b5_every_local_parameter_has_a_stricter_and_a_combine_rule() -> None:
    assert set(p.STRICTER) == set(p.COMBINE) == set(LocalRules.model_fields)
    municipal_only = set(PolicyParameters.model_fields) - set(LocalRules.model_fields)
    assert municipal_only == {"private_cost_categories", "support_channels"}


def test_b5_local_rules_that_relax_are_refused_with_every_reason() -> None:
    rules = LocalRules(tiers_on_offer=("standard",), tiers_requiring_justification=(),
                       escalation_interval_days=30)
    with pytest.raises(RuleViolation) as refused:
        p.check_local_rules(MUNICIPAL, rules, scope_label="unit SOC-1")
    assert refused.value.detail.startswith("Rule B5: local rules for unit SOC-1")
    relaxed = {r["parameter"]: r["reason"] for r in refused.value.extra["relaxed"]}
    assert set(relaxed) == {"tiers_requiring_justification", "escalation_interval_days"}
    assert "advanced" in relaxed["tiers_requiring_justification"]
    assert "the municipality-wide policy" in relaxed["escalation_interval_days"]


def test_b5_the_reason_names_the_scope_that_set_the_rule_above() -> None:
    above = p.effective(MUNICIPAL, [("administration SOC", LocalRules(private_use_allowed=False))])
    with pytest.raises(RuleViolation, match="administration SOC does not allow"):
        p.check_local_rules(above.parameters, LocalRules(private_use_allowed=True),
                            scope_label="unit X", sources=above.sources)


def test_b5_stricter_or_equal_local_rules_pass() -> None:
    p.check_local_rules(MUNICIPAL, LocalRules(), scope_label="unit X")
    p.check_local_rules(MUNICIPAL, LocalRules(
        tiers_on_offer=("robust", "simple", "standard"),
        tiers_requiring_justification=("standard", "advanced"),
        return_due_days_after_last_day=-2, escalation_interval_days=3,
        private_use_allowed=False), scope_label="unit X")


# --- the effective policy ------------------------------------------------------------------

RULE_SETS = [
    LocalRules(tiers_on_offer=("robust", "standard", "advanced")),
    LocalRules(tiers_on_offer=("simple", "standard"), escalation_interval_days=5),
    LocalRules(tiers_requiring_justification=("standard",), return_due_days_after_last_day=-1),
    LocalRules(escalation_interval_days=9, private_use_allowed=False),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(RULE_SETS)))))
def test_b5_the_effective_policy_is_the_strictest_combination_in_any_order(
        order: tuple[int, ...]) -> None:
    result = p.effective(MUNICIPAL, [(f"scope {i}", RULE_SETS[i]) for i in order]).parameters
    assert result.tiers_on_offer == ("standard",)
    assert result.tiers_requiring_justification == ("standard", "advanced")
    assert (result.return_due_days_after_last_day, result.escalation_interval_days,
            result.private_use_allowed) == (-1, 5, False)
    for name in p.LOCAL_PARAMETERS:  # never less strict than the municipality's
        assert p.STRICTER[name](getattr(MUNICIPAL, name), getattr(result, name)), name
    assert result.support_channels == MUNICIPAL.support_channels


def test_b5_sources_name_the_scope_that_tightened_each_parameter() -> None:
    result = p.effective(MUNICIPAL, [
        ("administration SOC", LocalRules(escalation_interval_days=5)),
        ("unit SOC-1", LocalRules(escalation_interval_days=6, tiers_on_offer=("robust",))),
    ])
    assert result.sources["escalation_interval_days"] == "administration SOC"  # 6 adds nothing
    assert result.sources["tiers_on_offer"] == "unit SOC-1"
    assert result.sources["private_use_allowed"] == p.MUNICIPALITY


def test_b5_normalised_rules_compare_equal() -> None:
    assert p.normalise_rules(LocalRules(tiers_on_offer=("standard", "robust", "robust"))) == \
        LocalRules(tiers_on_offer=("robust", "standard"))


def test_o4_s1_the_municipality_must_offer_a_tier_and_a_support_channel() -> None:
    with pytest.raises(RuleViolation, match="O4"):
        p.normalise_parameters(MUNICIPAL.model_copy(update={"tiers_on_offer": ()}))
    with pytest.raises(RuleViolation, match="S1"):
        p.normalise_parameters(MUNICIPAL.model_copy(update={"support_channels": ()}))


# --- review (rule R1) ---------------------------------------------------------------------


@pytest.mark.parametrize("reviewed, today, overdue, days", [
    (date(2025, 3, 1), date(2026, 3, 1), False, 0),  # a year to the day: still in time
    (date(2025, 3, 1), date(2026, 3, 2), True, 1),
    (date(2020, 10, 22), date(2026, 11, 29), True, 1864),  # due 2021-10-22
    (date(2024, 2, 29), date(2025, 2, 28), False, 0),  # leap day: due 28 February
    (date(2024, 2, 29), date(2025, 3, 1), True, 1),
])
def test_r1_a_review_older_than_one_year_is_overdue(reviewed: date, today: date, overdue: bool,
                                                    days: int) -> None:
    status = p.review_status(reviewed, today)
    assert (status.overdue, status.days_overdue) == (overdue, days)


def test_r1_a_review_cannot_be_in_the_future_or_older_than_the_last() -> None:
    today = date(2026, 5, 1)
    p.check_review_date(today, today=today, last_review=date(2025, 5, 1))
    with pytest.raises(RuleViolation, match="has not come yet"):
        p.check_review_date(date(2026, 5, 2), today=today, last_review=None)
    with pytest.raises(RuleViolation, match="already reviewed"):
        p.check_review_date(date(2025, 4, 30), today=today, last_review=date(2025, 5, 1))
