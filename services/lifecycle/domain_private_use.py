"""Private use of a municipal phone (rules P1, P3) as plain functions: no database, no I/O.

P1: the department head decides whether an employee may use the phone privately; an agreement is
then drawn up with the employee. P3: what is done in the job is public record; private matters
generally are not, but may be tried — the employee is shown this before signing.

An agreement: requested (by the employee, or their manager on their behalf) → approved or
refused (with the reason) by the head of the person's unit → signed by the employee, in force
from then → ended (by the employee or the head, or automatically when employment ends or the
person moves to another unit). A request or approval nobody signed can be withdrawn: cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from shared.auth import User
from shared.errors import Conflict, Forbidden, RuleViolation

FULL_READERS = ("it-service", "auditor")  # read every agreement, change none
PRIVATE_USE_KINDS = frozenset({"phone", None})  # P1 speaks of the mobile phone


class Status(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"  # by the head, awaiting the employee's signature
    REFUSED = "refused"
    ACTIVE = "active"  # signed: in force
    ENDED = "ended"
    CANCELLED = "cancelled"  # withdrawn before it was signed


PENDING = frozenset({Status.REQUESTED, Status.APPROVED})
OPEN = PENDING | {Status.ACTIVE}


@dataclass(frozen=True)
class Parties:
    """The people an agreement concerns; `head` decides (see `deciding_head`)."""

    person_id: str
    managers: frozenset[str]  # the nearest manager and the head of the person's current unit
    head: str | None  # the head who decides for the agreement's unit


def deciding_head(person_id: str, unit_head: str | None, parent_head: str | None) -> str | None:
    """The head of the person's unit; for the head's own phone, the head of the unit above."""
    if unit_head and unit_head != person_id:
        return unit_head
    return parent_head if parent_head and parent_head != person_id else None


def is_party(user: User, parties: Parties) -> bool:
    return user.person_id == parties.person_id or user.person_id in parties.managers \
        or (parties.head is not None and user.person_id == parties.head)


def may_read(user: User, parties: Parties) -> bool:
    """The employee, their manager and their head; IT service and auditors read all."""
    return user.has_any(*FULL_READERS) or is_party(user, parties)


def check_may_request(user: User, parties: Parties) -> None:
    """rule P1: the employee asks, or their manager or head on their behalf."""
    if not is_party(user, parties):
        raise Forbidden("Only the employee, their manager or the head of their unit may ask "
                        "for private use of the employee's phone (rule P1)")


@dataclass(frozen=True)
class Requester:
    """What a request needs to know about the person and the phone."""

    person_id: str
    last_day: date | None
    holder_person_id: str | None
    device_state: str | None
    device_kind: str | None
    private_use_allowed: bool


def check_can_request(r: Requester, device_id: object) -> None:
    if r.last_day is not None:
        raise RuleViolation(f"{r.person_id}'s employment ends on {r.last_day.isoformat()}: an "
                            "agreement on private use would end with it (rule P1)")
    if r.device_state != "issued" or r.holder_person_id != r.person_id:
        raise RuleViolation(f"Device {device_id} is not a phone {r.person_id} holds: private use "
                            "is agreed for the employee's own municipal phone (rule P1)")
    if r.device_kind not in PRIVATE_USE_KINDS:
        raise RuleViolation(f"Device {device_id} is a {r.device_kind}: the guideline allows "
                            "private use of the mobile phone only (rule P1)")
    check_allowed_here(r.private_use_allowed)


def check_allowed_here(private_use_allowed: bool) -> None:
    if not private_use_allowed:
        raise RuleViolation("The guideline in effect for this unit does not allow private use "
                            "of municipal phones: a local rule added to the municipality's "
                            "(rules B5, P1)")


def check_subscription(person_id: str, device_id: object, *, state: str | None,
                       holder: str | None, on_device: object | None,
                       subscription_id: object) -> None:
    """A named subscription must be active and the person's, or on the phone named."""
    if state != "active" or (holder != person_id and on_device != device_id):
        raise RuleViolation(f"Subscription {subscription_id} is not an active subscription of "
                            f"{person_id} or of device {device_id} (rule P1)")


def check_decider(user: User, parties: Parties) -> None:
    """rule P1: the head of the person's unit decides; nobody decides on their own phone."""
    if parties.head is None:
        raise RuleViolation("No head is registered for the employee's unit, so nobody can "
                            "decide yet (rule P1); HR names the head of each unit")
    if user.person_id != parties.head:
        raise Forbidden("Only the head of the employee's unit decides on private use (rule P1)")


def check_status(status: str, allowed: frozenset[Status], doing: str) -> None:
    if status not in allowed:
        raise Conflict(f"The agreement is {status}: it cannot be {doing} now")


def check_signer(user: User, person_id: str) -> None:
    if user.person_id != person_id:
        raise Forbidden("Only the employee signs their own agreement on private use (rule P1)")


def check_terms(*, signed_version: int, signed_sha256: str, current_version: int,
                current_sha256: str) -> None:
    """rule P3: the signature names the very text shown; an older text must be shown again."""
    if signed_version != current_version:
        raise Conflict(f"The P3 text has changed since it was shown (version {signed_version}); "
                       f"show version {current_version} and sign that", current_terms_version=
                       current_version)
    if signed_sha256.lower() != current_sha256:
        raise RuleViolation(f"terms_sha256 does not match version {current_version} of the P3 "
                            "text: sign exactly the text that was shown (rule P3)")


def end_reason_for(user: User, parties: Parties, status: str) -> str:
    """Who may end or withdraw an agreement, and the reason the ending records.

    An agreement in force: the employee (employee-request) or the head (revoked). A pending one:
    also the manager who may have asked on the employee's behalf (withdrawn = cancelled).
    """
    if user.person_id == parties.person_id:
        return "employee-request"
    if parties.head is not None and user.person_id == parties.head:
        return "revoked"
    if status in PENDING and user.person_id in parties.managers:
        return "revoked"
    raise Forbidden("Only the employee or the head of their unit may end this agreement "
                    "(rule P1)")


def ended_on(valid_from: date | None, last_day: date) -> date:
    """The agreement's last day in force: never before its first."""
    return max(valid_from, last_day) if valid_from else last_day


def corrected_end(valid_from: date | None, current_end: date | None, *,
                  replaced_last_day: date | None, last_day: date) -> date | None:
    """rules P1, P2: the new last day in force of an agreement HR already ended, when this HR
    event corrects the very event that ended it; None: the agreement keeps its end.

    `replaced_last_day` is the last day the corrected event gave (None: this event corrects
    nothing, e.g. a second move or the end of a later employment). Without storing which event
    ended an agreement, its end tells: only the corrected event gave it exactly that end. An
    agreement ended by an earlier move or employment keeps its end and is not announced again.
    """
    if replaced_last_day is None or current_end != ended_on(valid_from, replaced_last_day):
        return None
    new_end = ended_on(valid_from, last_day)
    return new_end if new_end != current_end else None


def in_force(status: str, valid_from: date | None, end: date | None, today: date) -> bool:
    if status == Status.ACTIVE:
        return True
    return status == Status.ENDED and valid_from is not None and end is not None and today <= end
