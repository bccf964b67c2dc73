"""Lifecycle's rules without a database: HR ordering, which devices go back to whom (U7, U8),
escalation (U7), hand-in (C2, C3), loss (U9) and who may see or do what."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest

from services.lifecycle import domain
from services.lifecycle.domain import HoldingView, Outcome, Parties, PersonView
from shared.auth import User
from shared.errors import Conflict, RuleViolation
from tests.unit.lifecycle_views import T0, person


def end(who: PersonView | None, last_day: date, hr_time: datetime) -> domain.Decision:
    """An end in unit A to M-A, the unit and receiver `person()` has."""
    return domain.decide_end(who, last_day, hr_time, unit_id="A", receiver="M-A")


def holding(**overrides: object) -> HoldingView:
    values: dict[str, object] = dict(device_id=uuid.uuid4(), holder_person_id="E1", unit_id="A",
                                     kind="phone", state="issued")
    values.update(overrides)
    return HoldingView(**values)  # type: ignore[arg-type]


# --- the order of HR events ---------------------------------------------------------------


def test_hr_event_recorded_before_the_newest_applied_is_stale() -> None:
    for decision in (domain.decide_hire(person(), date(2024, 1, 1), T0),
                     domain.decide_transfer(person(), T0 - timedelta(seconds=1)),
                     end(person(), date(2026, 6, 30), T0 - timedelta(days=1))):
        assert decision.outcome is Outcome.STALE
        assert "late" in decision.detail


def test_u7_equal_timestamps_rank_hire_before_transfer_before_end() -> None:
    """rule U7: HR records e.g. a fixed-term hire and its end in one batch with one timestamp.
    The later kind applies whichever arrives first; the earlier or same kind is stale."""
    hired, moved = person(), person(placement="transferred", unit_id="B", previous_unit_id="A")
    ended = person(last_day=date(2026, 6, 30))
    assert end(hired, date(2026, 6, 30), T0).outcome is Outcome.APPLIED
    assert end(moved, date(2026, 6, 30), T0).outcome is Outcome.APPLIED
    assert domain.decide_transfer(hired, T0).outcome is Outcome.APPLIED
    for late in (domain.decide_hire(ended, date(2024, 1, 1), T0),
                 domain.decide_hire(moved, date(2024, 1, 1), T0),
                 domain.decide_transfer(ended, T0), domain.decide_transfer(moved, T0),
                 end(ended, date(2026, 7, 15), T0)):
        assert late.outcome is Outcome.STALE
        assert "same time" in late.detail


def test_u7_the_applied_kind_is_read_from_what_the_newest_event_left() -> None:
    assert domain.applied_kind(person()) is domain.HrKind.HIRE
    assert domain.applied_kind(person(placement="transferred")) is domain.HrKind.TRANSFER
    assert domain.applied_kind(person(placement="transferred", last_day=date(2026, 6, 30))) \
        is domain.HrKind.END
    assert domain.applied_kind(person(placement="unknown", last_day=date(2026, 6, 30))) \
        is domain.HrKind.END


def test_u7_transfer_after_the_end_is_ignored_because_the_end_covers_every_device() -> None:
    ended = person(last_day=date(2026, 6, 30))
    decision = domain.decide_transfer(ended, T0 + timedelta(hours=1))
    assert decision.outcome is Outcome.AFTER_END
    assert "2026-06-30" in decision.detail


def test_hire_after_the_end_employs_again_only_when_it_starts_after_the_last_day() -> None:
    ended = person(last_day=date(2026, 6, 30))
    later = T0 + timedelta(hours=1)
    assert domain.decide_hire(ended, date(2026, 8, 1), later).outcome is Outcome.APPLIED
    assert domain.decide_hire(ended, date(2026, 6, 30), later).outcome is Outcome.AFTER_END


def test_u7_end_correction_applies_and_the_same_end_again_changes_nothing() -> None:
    ended = person(last_day=date(2026, 6, 30))
    later = T0 + timedelta(hours=1)
    assert end(ended, date(2026, 7, 15), later).outcome is Outcome.APPLIED
    assert end(ended, date(2026, 6, 30), later).outcome is Outcome.UNCHANGED
    assert end(None, date(2026, 6, 30), later).outcome is Outcome.APPLIED


def test_p1_a_transfer_corrects_the_newest_move_only_between_the_same_units() -> None:
    moved = person(placement="transferred", unit_id="B", previous_unit_id="A",
                   placed_on=date(2026, 5, 1))
    assert domain.corrected_move(moved, "A", "B") == date(2026, 5, 1)
    assert domain.corrected_move(moved, "B", "C") is None  # a second move
    assert domain.corrected_move(moved, "X", "B") is None
    assert domain.corrected_move(person(), "A", "B") is None  # hired, never moved
    assert domain.corrected_move(None, "A", "B") is None


def test_employment_status_counts_the_last_day_as_still_employed() -> None:
    assert domain.employment_status(None, date(2026, 1, 1)) == "employed"
    assert domain.employment_status(date(2026, 6, 30), date(2026, 6, 30)) == "leaving"
    assert domain.employment_status(date(2026, 6, 30), date(2026, 7, 1)) == "ended"


# --- which devices go back -----------------------------------------------------------------


def test_u7_u8_only_personal_mobile_devices_go_back_on_end() -> None:
    assert domain.must_return_on_end(holding())
    assert domain.must_return_on_end(holding(kind=None))  # unknown kind: returned, not kept
    assert domain.must_return_on_end(holding(kind="sim"))
    assert not domain.must_return_on_end(holding(holder_person_id=None))  # shared (U8)
    assert not domain.must_return_on_end(holding(kind="accessory"))
    assert not domain.must_return_on_end(holding(kind="desk-phone"))
    assert not domain.must_return_on_end(holding(state="lost"))


def test_u7_on_transfer_devices_of_the_new_unit_stay_and_shared_devices_stay() -> None:
    assert domain.must_return_on_transfer(holding(unit_id="A"), to_unit_id="B")
    assert not domain.must_return_on_transfer(holding(unit_id="B"), to_unit_id="B")
    assert not domain.must_return_on_transfer(holding(holder_person_id=None), to_unit_id="B")


def test_u7_device_issued_after_the_end_was_announced_still_goes_back() -> None:
    ended = person(last_day=date(2026, 6, 30), nearest_manager_id="M-A")
    demand = domain.demand_for_new_device(ended, holding(), date(2026, 7, 1))
    assert demand == domain.ReturnDemand("employment-ended", date(2026, 6, 30), "M-A")


def test_u7_device_of_the_old_unit_issued_after_a_transfer_goes_back_to_the_old_manager() -> None:
    moved = person(unit_id="B", placement="transferred", placed_on=date(2026, 5, 1),
                   previous_unit_id="A", previous_manager_id="M-A", nearest_manager_id="M-B")
    before = date(2026, 4, 20)  # issued before the move took effect
    assert domain.demand_for_new_device(moved, holding(unit_id="A"), before) \
        == domain.ReturnDemand("transferred", date(2026, 4, 30), "M-A")  # the last day in A
    assert domain.demand_for_new_device(moved, holding(unit_id="B"), before) is None
    assert domain.demand_for_new_device(person(), holding(), before) is None
    assert domain.demand_for_new_device(None, holding(), before) is None


@pytest.mark.parametrize("effective, last_day", [
    (date(2027, 3, 1), date(2027, 2, 28)),
    (date(2028, 3, 1), date(2028, 2, 29)),  # leap year
    (date(2027, 1, 1), date(2026, 12, 31)),
    (date(2026, 9, 15), date(2026, 9, 14)),
])
def test_u7_p1_a_move_asks_the_old_units_devices_back_on_the_last_day_there(
        effective: date, last_day: date) -> None:
    """rule U7 "due on the last day": HR's effective_date is the first day in the new unit, so
    the last day in the unit left, when its devices are due and (P1) its agreements end, is the
    day before. Before the unit policy's offset, which offboarding adds to this day."""
    assert domain.last_day_before_move(effective) == last_day
    assert domain.transfer_demand(effective, "M-A") \
        == domain.ReturnDemand("transferred", last_day, "M-A")


def test_u7_due_date_only_moves_earlier() -> None:
    assert domain.earlier_due(date(2026, 7, 1), date(2026, 6, 30)) == date(2026, 6, 30)
    assert domain.earlier_due(date(2026, 7, 1), date(2026, 7, 2)) is None


def test_u7_late_return_of_an_earlier_issue_does_not_complete_the_current_case() -> None:
    case_id = uuid.uuid4()
    common = dict(case_person="E1", case_id=case_id, returned_case_id=None, holder="E1",
                  issued_at=T0)
    assert domain.return_closes_case(returned_from="E1", returned_at=T0 + timedelta(1),
                                     **common)  # type: ignore[arg-type]
    assert not domain.return_closes_case(returned_from="E1", returned_at=T0 - timedelta(1),
                                         **common)  # type: ignore[arg-type]
    assert not domain.return_closes_case(returned_from="E2", returned_at=T0 + timedelta(1),
                                         **common)  # type: ignore[arg-type]
    named = {**common, "returned_case_id": case_id}
    assert domain.return_closes_case(returned_from="E2", returned_at=T0 - timedelta(1),
                                     **named)  # type: ignore[arg-type]


# --- escalation ---------------------------------------------------------------------------


def test_u7_a_case_is_overdue_from_the_day_after_its_due_date() -> None:
    due = date(2026, 6, 30)
    assert domain.days_overdue(due, due) == 0
    assert domain.days_overdue(due, date(2026, 7, 1)) == 1
    assert domain.days_overdue(due, date(2026, 6, 1)) == 0


@pytest.mark.parametrize(("days", "level"), [(0, 0), (1, 1), (7, 1), (8, 2), (14, 2), (15, 3)])
def test_u7_escalation_level_grows_once_per_week_overdue(days: int, level: int) -> None:
    assert domain.escalation_level(days, repeat_days=7) == level


def test_u7_levels_between_the_last_recorded_and_the_current_one_were_skipped() -> None:
    assert list(domain.skipped_levels(3, last_recorded=0)) == [1, 2]  # never swept
    assert list(domain.skipped_levels(6, last_recorded=3)) == [4, 5]  # down again
    assert list(domain.skipped_levels(2, last_recorded=1)) == []  # swept in time
    assert list(domain.skipped_levels(1, last_recorded=0)) == []


def test_u7_escalation_goes_to_the_head_above_the_receiver() -> None:
    assert domain.escalation_target("M", "H", "P") == "H"
    assert domain.escalation_target("H", "H", "P") == "P"  # the receiver is the unit's head
    assert domain.escalation_target("H", "H", None) is None  # IT service follows it up
    assert domain.escalation_target(None, None, None) is None


def test_u7_escalation_cannot_run_as_of_a_future_day() -> None:
    with pytest.raises(RuleViolation, match="future"):
        domain.check_as_of(date(2026, 7, 2), today=date(2026, 7, 1))
    domain.check_as_of(date(2026, 7, 1), today=date(2026, 7, 1))


# --- hand-in and loss ---------------------------------------------------------------------


def test_c3_hand_in_is_due_after_the_configured_days_and_never_in_the_past() -> None:
    today = date(2026, 7, 1)
    assert domain.hand_in_due(today, None, 14) == date(2026, 7, 15)
    assert domain.hand_in_due(today, date(2026, 7, 3), 14) == date(2026, 7, 3)
    with pytest.raises(RuleViolation, match="past"):
        domain.hand_in_due(today, date(2026, 6, 30), 14)
    with pytest.raises(RuleViolation, match="C3"):
        domain.check_can_hand_in(holding(state="returned"), "d-1")


def test_u9_only_a_held_device_can_be_reported_lost_and_only_once() -> None:
    with pytest.raises(RuleViolation, match="U9"):
        domain.check_can_report_loss(None, "d-1")
    held = domain.check_can_report_loss(holding(), "d-1")
    domain.check_not_lost_already(held, None)
    with pytest.raises(Conflict):
        domain.check_not_lost_already(held, uuid.uuid4())
    with pytest.raises(Conflict):
        domain.check_not_lost_already(holding(state="lost"), None)


# --- who may do what ------------------------------------------------------------------------

PARTIES = Parties(person_id="E1", managers=frozenset({"M-A", "H-A"}), unit_id="A")


@pytest.mark.parametrize(("who", "roles", "reads", "acts"), [
    ("E1", {"employee"}, True, True),  # the holder
    ("M-A", {"employee"}, True, True),  # their nearest manager, whatever their roles
    ("H-A", {"department-head"}, True, True),  # the unit's head
    ("E2", {"employee"}, False, False),
    ("H-B", {"department-head"}, False, False),  # a head, but not of this person
    ("it-1", {"it-service"}, True, True),
    ("aud-1", {"auditor"}, True, False),  # auditors read all and change nothing
])
def test_object_level_rights_follow_the_relation_not_the_role(
        who: str, roles: set[str], reads: bool, acts: bool) -> None:
    user = User(person_id=who, roles=frozenset(roles))
    assert domain.may_read(user, PARTIES) is reads
    assert domain.may_act_on_device(user, PARTIES) is acts


def test_u8_a_shared_device_is_acted_on_by_its_unit() -> None:
    shared = Parties(person_id=None, managers=frozenset({"H-A"}), unit_id="A")
    member = Parties(person_id=None, managers=frozenset({"H-A"}), unit_id="A",
                     members_of_unit=True)
    colleague = User(person_id="E3", roles=frozenset({"employee"}))
    assert domain.may_act_on_device(User("H-A", frozenset()), shared)
    assert not domain.may_act_on_device(colleague, shared)
    assert domain.may_act_on_device(colleague, member)
