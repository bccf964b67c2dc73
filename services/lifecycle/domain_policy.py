"""The guideline as a versioned policy (rules B5, R1), as plain functions: no database, no I/O.

B5: an administration or unit may add stricter local rules, never relax a municipality-wide one.
"Stricter" is defined per parameter below (`STRICTER`), and so is how a stricter rule combines
with the one above it (`COMBINE`): the effective policy of a scope is the municipality's policy
combined with every local rule above and at that scope, so it can only ever be at least as strict
as the municipality's, whatever order the rules were set in.

R1: the guideline is reviewed yearly or on change; a review older than one year is overdue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared.errors import RuleViolation
from shared.events.catalogue import LocalRules, PolicyParameters

TIERS = ("robust", "simple", "standard", "advanced")  # rule O4, in the guideline's order
MUNICIPALITY = "the municipality-wide policy"

# --- "stricter", parameter by parameter (rule B5) ----------------------------------------------


def fewer_tiers(above: Sequence[str], local: Sequence[str]) -> bool:
    """Tiers on offer (O4): offering only tiers offered above is stricter or equal."""
    return set(local) <= set(above)


def more_justification(above: Sequence[str], local: Sequence[str]) -> bool:
    """Tiers needing a written justification (O4): demanding it for more tiers is stricter."""
    return set(local) >= set(above)


def earlier_or_equal(above: int, local: int) -> bool:
    """Days: a return due sooner, or an escalation sooner, is stricter (U7)."""
    return local <= above


def no_more_allowed(above: bool, local: bool) -> bool:
    """A permission (P1 private use): withholding it is stricter; granting what is withheld
    above is not."""
    return above or not local


STRICTER: dict[str, Callable[[Any, Any], bool]] = {
    "tiers_on_offer": fewer_tiers,
    "tiers_requiring_justification": more_justification,
    "return_due_days_after_last_day": earlier_or_equal,
    "escalation_interval_days": earlier_or_equal,
    "private_use_allowed": no_more_allowed,
}


def _tiers(values: Iterable[str]) -> tuple[str, ...]:
    chosen = set(values)
    return tuple(t for t in TIERS if t in chosen)


COMBINE: dict[str, Callable[[Any, Any], Any]] = {
    "tiers_on_offer": lambda above, local: _tiers(set(above) & set(local)),
    "tiers_requiring_justification": lambda above, local: _tiers(set(above) | set(local)),
    "return_due_days_after_last_day": min,
    "escalation_interval_days": min,
    "private_use_allowed": lambda above, local: above and local,
}
LOCAL_PARAMETERS = tuple(STRICTER)  # the rest (support channels, private cost categories) are
# municipality-wide only: LocalRules has no field for them.


def _why_not(name: str, above: Any, local: Any, source: str) -> str:
    if name == "tiers_on_offer":
        extra = ", ".join(_tiers(set(local) - set(above)))
        return f"it offers the {extra} tier, which {source} does not offer (rule O4)"
    if name == "tiers_requiring_justification":
        dropped = ", ".join(_tiers(set(above) - set(local)))
        return f"it drops the written justification {source} requires for the {dropped} tier " \
               "(rule O4)"
    if name == "return_due_days_after_last_day":
        return f"it lets a device come back {local} day(s) after the last day, later than " \
               f"{source} allows ({above}) (rule U7)"
    if name == "escalation_interval_days":
        return f"it escalates an overdue return every {local} days, less often than {source} " \
               f"(every {above}) (rule U7)"
    return f"it allows private use, which {source} does not allow (rule P1)"


@dataclass(frozen=True)
class Relaxation:
    parameter: str
    reason: str


def relaxations(above: PolicyParameters, rules: LocalRules,
                sources: dict[str, str] | None = None) -> list[Relaxation]:
    """Every local rule that is less strict than the policy above it (rule B5)."""
    found = []
    for name in LOCAL_PARAMETERS:
        local = getattr(rules, name)
        if local is None:
            continue
        value = getattr(above, name)
        if not STRICTER[name](value, local):
            source = (sources or {}).get(name, MUNICIPALITY)
            found.append(Relaxation(name, _why_not(name, value, local, source)))
    return found


def check_local_rules(above: PolicyParameters, rules: LocalRules, *, scope_label: str,
                      sources: dict[str, str] | None = None) -> None:
    """rule B5: refuse, with every reason, local rules that would relax the policy above."""
    found = relaxations(above, rules, sources)
    if found:
        reasons = "; ".join(f"{r.parameter}: {r.reason}" for r in found)
        raise RuleViolation(
            f"Rule B5: local rules for {scope_label} may only add to the guideline, never relax "
            f"it, and these would: {reasons}",
            relaxed=[{"parameter": r.parameter, "reason": r.reason} for r in found])


def normalise_rules(rules: LocalRules) -> LocalRules:
    """Tiers in the guideline's order, without repeats, so equal rules compare equal."""
    values = rules.model_dump()
    for name in ("tiers_on_offer", "tiers_requiring_justification"):
        if values[name] is not None:
            values[name] = _tiers(values[name])
    return LocalRules(**values)


def normalise_parameters(params: PolicyParameters) -> PolicyParameters:
    """The municipality's parameters, checked and in a canonical form."""
    if not params.tiers_on_offer:
        raise RuleViolation("The municipality must offer at least one phone tier (rule O4)")
    values = params.model_dump()
    values["tiers_on_offer"] = _tiers(params.tiers_on_offer)
    values["tiers_requiring_justification"] = _tiers(params.tiers_requiring_justification)
    values["private_cost_categories"] = tuple(sorted(set(params.private_cost_categories)))
    if not params.support_channels:
        raise RuleViolation("At least one support channel must be named (rule S1)")
    return PolicyParameters(**values)


# --- the effective policy of a scope ------------------------------------------------------------


@dataclass(frozen=True)
class Effective:
    """The policy in effect somewhere, and which scope set each parameter."""

    parameters: PolicyParameters
    sources: dict[str, str] = field(default_factory=dict)


def apply_rules(above: Effective, rules: LocalRules, label: str) -> Effective:
    """Combine local rules with the policy above: the result is never less strict (B5)."""
    values = above.parameters.model_dump()
    sources = dict(above.sources)
    for name in LOCAL_PARAMETERS:
        local = getattr(rules, name)
        if local is None:
            continue
        combined = COMBINE[name](values[name], local)
        if combined != values[name]:
            values[name], sources[name] = combined, label
    return Effective(PolicyParameters(**values), sources)


def effective(municipal: PolicyParameters,
              chain: Sequence[tuple[str, LocalRules]]) -> Effective:
    """The municipality's policy, then each scope's local rules from the top down."""
    result = Effective(municipal, {name: MUNICIPALITY for name in LOCAL_PARAMETERS})
    for label, rules in chain:
        result = apply_rules(result, rules, label)
    return result


def scope_label(scope: str, scope_id: str) -> str:
    return f"administration {scope_id}" if scope == "administration" else f"unit {scope_id}"


# --- review (rule R1) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewStatus:
    reviewed_on: date
    review_due_on: date
    overdue: bool
    days_overdue: int


def one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February: a year later is 28 February
        return day.replace(year=day.year + 1, day=28)


def review_status(reviewed_on: date, today: date) -> ReviewStatus:
    """rule R1: reviewed yearly; from the day after the anniversary the review is overdue."""
    due = one_year_after(reviewed_on)
    days = max(0, (today - due).days)
    return ReviewStatus(reviewed_on, due, days > 0, days)


def check_review_date(reviewed_on: date, *, today: date, last_review: date | None) -> None:
    if reviewed_on > today:
        raise RuleViolation(f"A review cannot be recorded for {reviewed_on.isoformat()}, a day "
                            f"that has not come yet (today is {today.isoformat()}) (rule R1)")
    if last_review is not None and reviewed_on < last_review:
        raise RuleViolation(f"The guideline was already reviewed on {last_review.isoformat()}; "
                            f"a review on {reviewed_on.isoformat()} would be older (rule R1)")
