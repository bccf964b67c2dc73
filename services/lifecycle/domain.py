"""Lifecycle rules as plain functions: no database, no I/O.

Rule IDs refer to ../shared/guideline/RULES.md. The service layer loads plain views of the rows,
asks these functions what the rules say, and saves the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import IntEnum, StrEnum

from shared.auth import User
from shared.errors import Conflict, RuleViolation

FULL_READERS = ("it-service", "auditor")  # read everything; only IT service also writes


def check_parent(unit_id: str, parent_unit_id: str | None, parent_exists: bool) -> None:
    """A unit hangs under an existing unit, never under itself."""
    check_not_own_parent(unit_id, parent_unit_id)
    if parent_unit_id is not None and not parent_exists:
        raise RuleViolation(f"Parent unit {parent_unit_id} is not registered")


def check_not_own_parent(unit_id: str, parent_unit_id: str | None) -> None:
    """HR may name a parent unit it has not sent yet (events arrive out of order), never itself."""
    if parent_unit_id == unit_id:
        raise RuleViolation(f"Unit {unit_id} cannot be its own parent unit")


# --- the order of HR events ---------------------------------------------------------------------


class Outcome(StrEnum):
    APPLIED = "applied"  # changed what lifecycle knows; events published
    UNCHANGED = "unchanged"  # newest, but says what lifecycle already knows
    STALE = "stale"  # recorded in HR before the newest event applied: it arrived late
    AFTER_END = "ignored-after-end"  # about an employment that has already ended


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    detail: str


@dataclass(frozen=True)
class PersonView:
    person_id: str
    unit_id: str
    nearest_manager_id: str | None
    placement: str  # "hired" | "transferred" | "unknown" (first known through an end)
    placed_on: date | None
    previous_unit_id: str | None
    previous_manager_id: str | None
    last_day: date | None
    hr_time: datetime


class HrKind(IntEnum):
    """The kinds of HR event about a person, in the order they happen within one employment.

    HR records several changes in one batch with one `timestamp` (a fixed-term hire and its end,
    a hire and a transfer): the rank breaks such ties, so either arrival order ends in the same
    state and neither is lost (rule U7)."""

    HIRE = 1
    TRANSFER = 2
    END = 3


def applied_kind(person: PersonView) -> HrKind:
    """The kind of the newest HR event applied for the person, read from what it left behind.

    Inferred rather than stored: only an end sets `last_day` (a transfer after it is ignored, a
    new hire clears it) and only a transfer sets placement "transferred" (a hire sets "hired",
    an end keeps the placement). An `unchanged` event is of the kind already applied.
    """
    if person.last_day is not None:
        return HrKind.END
    return HrKind.TRANSFER if person.placement == "transferred" else HrKind.HIRE


def _stale(person: PersonView, hr_time: datetime, kind: HrKind) -> Decision | None:
    if hr_time < person.hr_time:
        return Decision(Outcome.STALE, f"HR recorded this at {hr_time.isoformat()}, before "
                        f"the newest event applied for {person.person_id} "
                        f"({person.hr_time.isoformat()}); it arrived late and changes nothing")
    applied = applied_kind(person)
    if hr_time == person.hr_time and kind <= applied:
        # rule U7: a tie goes to the later kind (hire < transfer < end), whichever came first.
        return Decision(Outcome.STALE, f"HR recorded this at {hr_time.isoformat()}, the same "
                        f"time as the newest event applied for {person.person_id} (a "
                        f"{applied.name.lower()}), which a {kind.name.lower()} does not follow; "
                        "it arrived late and changes nothing")
    return None


def decide_hire(person: PersonView | None, start_date: date, hr_time: datetime) -> Decision:
    if person is None:
        return Decision(Outcome.APPLIED, "hired")
    if stale := _stale(person, hr_time, HrKind.HIRE):
        return stale
    if person.last_day is not None:
        if start_date > person.last_day:
            return Decision(Outcome.APPLIED, f"employed again after the employment that ended "
                            f"on {person.last_day.isoformat()}")
        return Decision(Outcome.AFTER_END, f"the employment ended on "
                        f"{person.last_day.isoformat()}; a hire starting on or before that day "
                        "does not employ the person again")
    if hire_corrects_start_only(person):
        return Decision(Outcome.APPLIED, "hire corrected: the start date only, the later "
                        f"transfer to {person.unit_id} stands")
    return Decision(Outcome.APPLIED, "hire corrected")


def hire_corrects_start_only(person: PersonView | None) -> bool:
    """rule U7: a corrected hire of a person whose newest placement is a transfer (same
    employment) changes the start date only. The hire's unit and manager are those before the
    move: taking them would silently undo the transfer, and the devices it asked back."""
    return person is not None and person.last_day is None and person.placement == "transferred"


def decide_transfer(person: PersonView | None, hr_time: datetime) -> Decision:
    if person is None:
        return Decision(Outcome.APPLIED, "transferred (first known through this transfer)")
    if stale := _stale(person, hr_time, HrKind.TRANSFER):
        return stale
    if person.last_day is not None:
        # rule U7: the end already opened a case for every device the person holds.
        return Decision(Outcome.AFTER_END, f"the employment ended on "
                        f"{person.last_day.isoformat()}; its return cases already cover every "
                        "device, so a later transfer changes nothing")
    return Decision(Outcome.APPLIED, "transferred")


def decide_end(person: PersonView | None, last_day: date, hr_time: datetime, *, unit_id: str,
               receiver: str | None) -> Decision:
    """`receiver`: who the devices go back to by this event (its manager, or who we fall back
    to). The same last day with another unit or receiver is a correction too (rule U7)."""
    if person is None:
        return Decision(Outcome.APPLIED, "employment ended (first known through its end)")
    if stale := _stale(person, hr_time, HrKind.END):
        return stale
    if person.last_day is None:
        return Decision(Outcome.APPLIED, "employment ended")
    if person.last_day != last_day:
        return Decision(Outcome.APPLIED, f"last day corrected from "
                        f"{person.last_day.isoformat()} to {last_day.isoformat()}")
    if person.nearest_manager_id != receiver:
        return Decision(Outcome.APPLIED, f"receiver of the returns corrected from "
                        f"{person.nearest_manager_id} to {receiver}")
    if person.unit_id != unit_id:
        return Decision(Outcome.APPLIED, f"unit corrected from {person.unit_id} to {unit_id}")
    return Decision(Outcome.UNCHANGED, "the same last day and receiver are already known")


def corrected_move(person: PersonView | None, from_unit_id: str, to_unit_id: str
                   ) -> date | None:
    """The effective date of the transfer this one corrects: the person's newest placement is a
    transfer between the same units (rules U7, P1 move only what that transfer asked back or
    ended, by `last_day_before_move` of this date). None: a new move."""
    if (person is None or person.placement != "transferred" or person.unit_id != to_unit_id
            or person.previous_unit_id != from_unit_id):
        return None
    return person.placed_on


def employment_status(last_day: date | None, today: date) -> str:
    if last_day is None:
        return "employed"
    return "leaving" if last_day >= today else "ended"


def works_in_unit(person: PersonView | None, unit_id: str | None, today: date) -> bool:
    """rules U8, U9: a shared device is used within its unit, so its members may report it
    lost. An ended employment (last day before today) is in no unit any more."""
    return (person is not None and unit_id is not None and person.unit_id == unit_id
            and employment_status(person.last_day, today) != "ended")


# --- which devices go back, when, and to whom (rule U7, U8) ------------------------------------

# rule U7 speaks of mobile devices: phones, tablets and their SIMs. Accessories and desk phones
# stay. A kind inventory did not name is returned: nothing may walk out by omission.
RETURNABLE_KINDS = frozenset({"phone", "tablet", "sim", None})


@dataclass(frozen=True)
class HoldingView:
    device_id: object
    holder_person_id: str | None
    unit_id: str | None
    kind: str | None
    state: str


@dataclass(frozen=True)
class ReturnDemand:
    """What a rule demands of a device: back by `due_date`, to `receiver` (None: IT service)."""

    reason: str
    due_date: date
    receiver: str | None


def last_day_before_move(effective_date: date) -> date:
    """A move takes effect on the first day in the new unit (HR's `effective_date`): the last
    day in the unit left is the day before. Its devices are due back that day (rule U7: "due on
    the last day") and its private-use agreements end that day (rule P1: the new unit's head
    has decided nothing)."""
    return effective_date - timedelta(days=1)


def transfer_demand(effective_date: date, receiver: str | None) -> ReturnDemand:
    """rule U7: a move effective `effective_date` asks the devices of the unit left back on the
    last day there (before the unit policy's offset, rule B5), to `receiver`, the manager there.

    The one formula for a move's cases: the case a move opens, the race case of a device issued
    before it took effect, and what a correction of the move looks for (`corrected_demand`).
    """
    return ReturnDemand("transferred", last_day_before_move(effective_date), receiver)


def returnable(holding: HoldingView) -> bool:
    """Personal, still held, and a mobile device. A shared device belongs to its unit (U8)."""
    return (holding.holder_person_id is not None and holding.state == "issued"
            and holding.kind in RETURNABLE_KINDS)


def must_return_on_end(holding: HoldingView) -> bool:
    return returnable(holding)


def must_return_on_transfer(holding: HoldingView, to_unit_id: str) -> bool:
    """rule U7: a device of the unit the person leaves goes back; one of the new unit stays."""
    return returnable(holding) and holding.unit_id != to_unit_id


def first_of(*candidates: str | None) -> str | None:
    return next((c for c in candidates if c), None)


def demand_for_new_device(person: PersonView | None, holding: HoldingView,
                          issued_on: date | None) -> ReturnDemand | None:
    """A device issued after an end or transfer was announced (a race) still has to go back.

    For a transfer only if it was issued before the move took effect (`issued_on`: the
    municipality's calendar day of the issue): then the person still worked in the old unit and
    the move asks its devices back, due on the last day there. One issued on or after the move's
    first day was handed out knowing where the person works; asking it back by the day before
    would make it overdue on arrival.
    """
    if person is None or not returnable(holding):
        return None
    if person.last_day is not None:
        return ReturnDemand("employment-ended", person.last_day, person.nearest_manager_id)
    if (person.placement == "transferred" and person.placed_on is not None
            and issued_on is not None and issued_on < person.placed_on
            and holding.unit_id != person.unit_id):
        return transfer_demand(person.placed_on, person.previous_manager_id)
    return None


def corrected_demand(case: ReturnDemand, *, replaced: ReturnDemand, demand: ReturnDemand
                     ) -> ReturnDemand | None:
    """rule U7: what an open case asks when an HR event corrects the end or transfer; None: the
    case keeps its terms.

    `replaced` is what the corrected event asked (its reason and due date, after the unit's
    policy offset), `demand` what the correction asks. Without storing which event opened a
    case, its due date tells: only the corrected event gave it exactly that date. A case of an
    earlier move or employment keeps its date and receiver, so an overdue one stays overdue.
    """
    if case.reason != replaced.reason or case.due_date not in dates_given_by(replaced):
        return None
    if (case.due_date, case.receiver) == (demand.due_date, demand.receiver):
        return None
    return ReturnDemand(case.reason, demand.due_date, demand.receiver)


def dates_given_by(replaced: ReturnDemand) -> tuple[date, ...]:
    """The due dates an HR event gave the cases it opened. Before release 2026-12-06 (ninth
    session) a transfer's case was due on the move's first day, one day after the last day in
    the unit left that it is due on now (rule U7); such a case, still open, is its move's too. Its
    date is left as it was given, rather than moved by a migration that cannot tell it from a
    date another rule set."""
    if replaced.reason == "transferred":
        return replaced.due_date, replaced.due_date + timedelta(days=1)
    return (replaced.due_date,)


def earlier_due(current: date, demanded: date) -> date | None:
    """rule U7: an open case's due date only moves earlier when another rule wants it sooner."""
    return demanded if demanded < current else None


# --- escalation of overdue cases (rule U7) ------------------------------------------------------


def days_overdue(due_date: date, as_of: date) -> int:
    """A case is due *on* its due date: overdue from the next day."""
    return max(0, (as_of - due_date).days)


def escalation_level(days: int, repeat_days: int) -> int:
    """Level 1 on the first day overdue, one more each `repeat_days`; 0: not overdue."""
    return 0 if days <= 0 else 1 + (days - 1) // repeat_days


def skipped_levels(level: int, last_recorded: int) -> range:
    """rule U7: the levels a case passed unescalated (the sweep was down while they were due):
    those after `last_recorded`, its highest level recorded below `level` (0: none), and before
    `level`. Empty when nothing was missed."""
    return range(last_recorded + 1, level)


def escalation_target(receiver: str | None, unit_head: str | None,
                      parent_unit_head: str | None) -> str | None:
    """The head above the receiver: the unit's head, or the parent unit's; None: IT service."""
    for candidate in (unit_head, parent_unit_head):
        if candidate and candidate != receiver:
            return candidate
    return None


def check_as_of(as_of: date, today: date) -> None:
    if as_of > today:
        raise RuleViolation(f"as_of {as_of.isoformat()} is in the future: a case can only be "
                            f"escalated once it is overdue (today is {today.isoformat()})")


# --- hand-in and loss (rules C2, C3, U9) --------------------------------------------------------


def hand_in_due(today: date, requested: date | None, hand_in_days: int) -> date:
    if requested is None:
        return today + timedelta(days=hand_in_days)
    if requested < today:
        raise RuleViolation(f"The due date {requested.isoformat()} is in the past")
    return requested


def check_can_hand_in(holding: HoldingView | None, device_id: object) -> HoldingView:
    if holding is None or holding.state != "issued":
        raise RuleViolation(f"Device {device_id} is not issued to anyone: only a device someone "
                            "holds can be handed in (rule C3)")
    return holding


def check_can_report_loss(holding: HoldingView | None, device_id: object) -> HoldingView:
    if holding is None or holding.state == "returned":
        raise RuleViolation(f"Device {device_id} is not issued to anyone, so it cannot be "
                            "reported lost by a holder (rule U9)")
    return holding


def check_not_lost_already(holding: HoldingView, open_loss_id: object | None) -> None:
    if holding.state == "lost" or open_loss_id is not None:
        raise Conflict(f"Device {holding.device_id} is already reported lost"
                       + (f" (loss {open_loss_id})" if open_loss_id else ""))


def return_closes_case(*, case_person: str | None, case_id: object, returned_from: str | None,
                       returned_case_id: object | None, returned_at: datetime,
                       holder: str | None, issued_at: datetime | None) -> bool:
    """Does inventory's device-returned complete this open case? (rule U7)

    Yes when it names the case, or comes from the case's person. A return that inventory
    recorded before the device's current issue to the same person is about an earlier issue
    and arrived late: it does not complete the case of the current one.
    """
    if returned_case_id is not None and returned_case_id == case_id:
        return True
    if returned_from is not None and case_person is not None and returned_from != case_person:
        return False
    return not (case_person == holder and issued_at is not None and returned_at < issued_at)


# --- who may see and do what (object level) -----------------------------------------------------


@dataclass(frozen=True)
class Parties:
    """The people related to a case, a loss or a device."""

    person_id: str | None  # the holder
    managers: frozenset[str]  # receiver, the holder's nearest manager, the unit's head
    unit_id: str  # the device's unit
    members_of_unit: bool = False  # the caller works in the device's unit (shared devices)


def may_read(user: User, parties: Parties) -> bool:
    """IT service and auditors read all; a person their own; a manager their staff's."""
    if user.has_any(*FULL_READERS):
        return True
    return user.person_id == parties.person_id or user.person_id in parties.managers


def may_act_on_device(user: User, parties: Parties) -> bool:
    """Hand-in and loss: the holder, their manager, or IT service (auditors only read).

    A shared device has no holder: its unit's head, and for a loss anyone of the unit using it.
    """
    if user.has_any("it-service"):
        return True
    if parties.person_id is not None:
        return user.person_id == parties.person_id or user.person_id in parties.managers
    return user.person_id in parties.managers or parties.members_of_unit


def may_list_for(user: User, person_id: str) -> bool:
    """A person's or a manager's own listing, or IT service / auditor reading anyone's."""
    return user.person_id == person_id or user.has_any(*FULL_READERS)
