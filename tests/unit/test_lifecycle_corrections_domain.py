"""HR corrections and who counts where, as plain functions (rules U7, U8, U9): a correction
touches only what the corrected event did; a later move is not undone by a corrected hire; a
device issued after a move took effect is not overdue on arrival; an ended employment is in no
unit."""

from __future__ import annotations

from datetime import date, timedelta

from services.lifecycle import domain
from services.lifecycle.domain import HoldingView, Outcome, PersonView, ReturnDemand
from tests.unit.lifecycle_views import T0, person

LATER = T0 + timedelta(hours=1)
ENDED = "employment-ended"


def moved() -> PersonView:
    return person(unit_id="B", placement="transferred", placed_on=date(2026, 3, 1),
                  previous_unit_id="A", previous_manager_id="M-A", nearest_manager_id="M-B")


def device(unit_id: str = "A") -> HoldingView:
    return HoldingView(device_id="d-1", holder_person_id="E1", unit_id=unit_id, kind="phone",
                       state="issued")


def test_u7_a_correction_moves_only_the_cases_the_corrected_event_opened() -> None:
    """rule U7: B→C on 06-01 corrected to 06-15 moves the case due 05-31 (the last day in B) to
    06-14; the case of the earlier move A→B (due 02-28, overdue) keeps its date, receiver and
    escalation."""
    replaced = domain.transfer_demand(date(2026, 6, 1), "M-B")
    demand = domain.transfer_demand(date(2026, 6, 15), "M-B")
    assert (replaced.due_date, demand.due_date) == (date(2026, 5, 31), date(2026, 6, 14))
    earlier = ReturnDemand("transferred", date(2026, 2, 28), "M-A")
    opened = ReturnDemand("transferred", date(2026, 5, 31), "M-B")
    assert domain.corrected_demand(earlier, replaced=replaced, demand=demand) is None
    assert domain.corrected_demand(opened, replaced=replaced, demand=demand) == demand
    # An end's correction never touches a transfer's case, even on the same day.
    end = ReturnDemand(ENDED, date(2026, 5, 31), "M-B")
    assert domain.corrected_demand(opened, replaced=end, demand=end) is None
    assert domain.corrected_demand(opened, replaced=replaced, demand=opened) is None  # same


def test_u7_a_transfer_case_opened_before_the_last_day_rule_still_follows_its_move() -> None:
    """Before the release of 2026-12-06 the move B→C on 06-01 made its case due 06-01 itself:
    a correction to 06-15 still finds it (and moves it to the last day, 06-14); an end's case due
    06-01 is not a transfer's and keeps its date."""
    replaced = domain.transfer_demand(date(2026, 6, 1), "M-B")
    demand = domain.transfer_demand(date(2026, 6, 15), "M-B")
    legacy = ReturnDemand("transferred", date(2026, 6, 1), "M-B")
    assert domain.corrected_demand(legacy, replaced=replaced, demand=demand) == demand
    ended = ReturnDemand(ENDED, date(2026, 6, 1), "M-B")
    assert domain.corrected_demand(ended, replaced=ReturnDemand(ENDED, date(2026, 5, 31), "M-B"),
                                   demand=ReturnDemand(ENDED, date(2026, 6, 14), "M-B")) is None
    two_days = ReturnDemand("transferred", date(2026, 6, 2), "M-B")
    assert domain.corrected_demand(two_days, replaced=replaced, demand=demand) is None


def test_u7_a_corrected_receiver_readdresses_the_cases_of_that_end() -> None:
    """rule U7: the same last day to another manager readdresses the end's cases only."""
    replaced = ReturnDemand(ENDED, date(2026, 6, 30), "M-WRONG")
    demand = ReturnDemand(ENDED, date(2026, 6, 30), "M-RIGHT")
    of_this_end = ReturnDemand(ENDED, date(2026, 6, 30), "M-WRONG")
    of_an_earlier_employment = ReturnDemand(ENDED, date(2025, 12, 31), "M-OLD")
    assert domain.corrected_demand(of_this_end, replaced=replaced, demand=demand) == demand
    assert domain.corrected_demand(of_an_earlier_employment, replaced=replaced,
                                   demand=demand) is None


def test_u7_the_same_last_day_with_another_receiver_or_unit_is_a_correction() -> None:
    ended = person(last_day=date(2026, 6, 30))
    day = date(2026, 6, 30)
    again = domain.decide_end(ended, day, LATER, unit_id="A", receiver="M-A")
    assert again.outcome is Outcome.UNCHANGED
    readdressed = domain.decide_end(ended, day, LATER, unit_id="A", receiver="M-X")
    assert readdressed.outcome is Outcome.APPLIED and "M-X" in readdressed.detail
    other_unit = domain.decide_end(ended, day, LATER, unit_id="Z", receiver="M-A")
    assert other_unit.outcome is Outcome.APPLIED and "Z" in other_unit.detail


def test_u7_a_corrected_hire_after_a_transfer_changes_the_start_date_only() -> None:
    """rule U7: a corrected hire must not silently undo the later transfer."""
    assert domain.hire_corrects_start_only(moved())
    decision = domain.decide_hire(moved(), date(2024, 2, 1), LATER)
    assert decision.outcome is Outcome.APPLIED and "transfer to B stands" in decision.detail
    assert not domain.hire_corrects_start_only(person())  # the hire itself: corrected whole
    assert not domain.hire_corrects_start_only(None)
    ended_after_move = person(placement="transferred", last_day=date(2026, 6, 30))
    assert not domain.hire_corrects_start_only(ended_after_move)  # a re-hire starts afresh


def test_u7_a_device_issued_after_the_move_took_effect_gets_no_transfer_case() -> None:
    """rule U7: the race rule asks back a device of the old unit issued before the move took
    effect, due on the last day there; one issued on or after the move's first day would be
    overdue on arrival, so it is not."""
    before, on, after = date(2026, 2, 28), date(2026, 3, 1), date(2026, 9, 1)
    assert domain.demand_for_new_device(moved(), device("A"), before) \
        == ReturnDemand("transferred", date(2026, 2, 28), "M-A")  # due the day it was issued
    assert domain.demand_for_new_device(moved(), device("A"), on) is None
    assert domain.demand_for_new_device(moved(), device("A"), after) is None
    assert domain.demand_for_new_device(moved(), device("A"), None) is None
    ended = person(last_day=date(2026, 6, 30))  # an end's race rule is unchanged
    assert domain.demand_for_new_device(ended, device(), after) \
        == ReturnDemand(ENDED, date(2026, 6, 30), "M-A")


def test_u8_u9_an_ended_employment_is_in_no_unit() -> None:
    """rules U8, U9: only someone working in a shared device's unit may report it lost."""
    today = date(2026, 7, 1)
    assert domain.works_in_unit(person(), "A", today)
    assert domain.works_in_unit(person(last_day=today), "A", today)  # the last day still counts
    assert not domain.works_in_unit(person(last_day=date(2026, 6, 30)), "A", today)
    assert not domain.works_in_unit(person(), "B", today)
    assert not domain.works_in_unit(None, "A", today)
    assert not domain.works_in_unit(person(), None, today)
