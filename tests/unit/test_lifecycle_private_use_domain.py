"""Private use without a database (rules P1, P3): who decides, who may ask, read, sign and end,
what may be asked for, the P3 text signed, and when an agreement ends."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from services.lifecycle import domain_private_use as d
from services.lifecycle.domain import last_day_before_move
from services.lifecycle.domain_private_use import Parties, Status
from shared.auth import User
from shared.errors import Conflict, Forbidden, RuleViolation

PARTIES = Parties(person_id="E1", managers=frozenset({"M1", "H1"}), head="H1")


def user(person_id: str, *roles: str) -> User:
    return User(person_id=person_id, roles=frozenset(roles or ("employee",)))


def test_p1_the_head_of_the_unit_decides_and_never_on_their_own_phone() -> None:
    assert d.deciding_head("E1", "H1", "H0") == "H1"
    assert d.deciding_head("H1", "H1", "H0") == "H0"  # the head's own phone: the head above
    assert d.deciding_head("H1", "H1", None) is None
    assert d.deciding_head("E1", None, "H0") == "H0"


@pytest.mark.parametrize("who, roles, reads", [
    ("E1", ("employee",), True), ("M1", ("employee",), True), ("H1", ("department-head",), True),
    ("E2", ("employee",), False), ("H2", ("department-head",), False),
    ("it-1", ("it-service",), True), ("a-1", ("auditor",), True),
    ("go-1", ("guideline-owner",), False), ("o-1", ("orderer",), False),
])
def test_p1_who_reads_an_agreement(who: str, roles: tuple[str, ...], reads: bool) -> None:
    assert d.may_read(user(who, *roles), PARTIES) is reads


def test_p1_the_employee_their_manager_or_head_asks_nobody_else() -> None:
    for who in ("E1", "M1", "H1"):
        d.check_may_request(user(who), PARTIES)
    for who, role in (("E2", "employee"), ("it-1", "it-service"), ("a-1", "auditor")):
        with pytest.raises(Forbidden):
            d.check_may_request(user(who, role), PARTIES)


def requester(**overrides: Any) -> d.Requester:
    values: dict[str, Any] = dict(person_id="E1", last_day=None, holder_person_id="E1",
                                  device_state="issued", device_kind="phone",
                                  private_use_allowed=True)
    return d.Requester(**{**values, **overrides})


@pytest.mark.parametrize("overrides, words", [
    ({"last_day": date(2026, 12, 31)}, "employment ends"),
    ({"holder_person_id": "E2"}, "not a phone E1 holds"),
    ({"device_state": "returned"}, "not a phone E1 holds"),
    ({"device_state": None, "holder_person_id": None}, "not a phone E1 holds"),
    ({"device_kind": "tablet"}, "mobile phone only"),
    ({"private_use_allowed": False}, "B5"),
])
def test_p1_what_may_be_asked_for(overrides: dict[str, Any], words: str) -> None:
    d.check_can_request(requester(), uuid.uuid4())
    d.check_can_request(requester(device_kind=None), uuid.uuid4())  # kind not reported
    with pytest.raises(RuleViolation, match=words):
        d.check_can_request(requester(**overrides), uuid.uuid4())


def test_p1_a_named_subscription_is_the_persons_or_on_the_phone() -> None:
    phone = uuid.uuid4()
    d.check_subscription("E1", phone, state="active", holder="E1", on_device=None,
                         subscription_id="s")
    d.check_subscription("E1", phone, state="active", holder=None, on_device=phone,
                         subscription_id="s")
    for state, holder in (("terminated", "E1"), (None, None), ("active", "E2")):
        with pytest.raises(RuleViolation):
            d.check_subscription("E1", phone, state=state, holder=holder, on_device=None,
                                 subscription_id="s")


def test_p1_only_the_head_decides_and_only_the_employee_signs() -> None:
    d.check_decider(user("H1", "department-head"), PARTIES)
    for who in ("E1", "M1", "H2"):
        with pytest.raises(Forbidden):
            d.check_decider(user(who, "department-head"), PARTIES)
    with pytest.raises(RuleViolation, match="No head"):
        d.check_decider(user("H1"), Parties(person_id="E1", managers=frozenset(), head=None))
    d.check_signer(user("E1"), "E1")
    with pytest.raises(Forbidden):
        d.check_signer(user("M1"), "E1")


def test_p3_the_signature_names_the_text_shown() -> None:
    sha = "a" * 64
    d.check_terms(signed_version=2, signed_sha256=sha.upper(), current_version=2,
                  current_sha256=sha)
    with pytest.raises(Conflict, match="show version 3"):
        d.check_terms(signed_version=2, signed_sha256=sha, current_version=3,
                      current_sha256=sha)
    with pytest.raises(RuleViolation, match="P3"):
        d.check_terms(signed_version=2, signed_sha256="b" * 64, current_version=2,
                      current_sha256=sha)


@pytest.mark.parametrize("who, status, reason", [
    ("E1", "active", "employee-request"), ("H1", "active", "revoked"),
    ("E1", "requested", "employee-request"), ("M1", "requested", "revoked"),
    ("M1", "approved", "revoked"),
])
def test_p1_who_ends_and_with_which_reason(who: str, status: str, reason: str) -> None:
    assert d.end_reason_for(user(who), PARTIES, status) == reason


def test_p1_a_manager_who_is_not_the_head_cannot_end_an_agreement_in_force() -> None:
    parties = Parties(person_id="E1", managers=frozenset({"M1"}), head="H1")
    with pytest.raises(Forbidden):
        d.end_reason_for(user("M1"), parties, "active")
    with pytest.raises(Forbidden):
        d.end_reason_for(user("it-1", "it-service"), parties, "requested")


def test_p1_states_a_step_needs() -> None:
    d.check_status("requested", frozenset({Status.REQUESTED}), "approved")
    with pytest.raises(Conflict, match="refused"):
        d.check_status("refused", frozenset({Status.REQUESTED}), "approved")
    assert {Status.REQUESTED, Status.APPROVED, Status.ACTIVE} == d.OPEN


def test_p1_an_agreement_ends_on_the_last_day_never_before_it_began() -> None:
    assert d.ended_on(date(2026, 3, 1), date(2026, 6, 30)) == date(2026, 6, 30)
    assert d.ended_on(date(2026, 3, 1), date(2026, 2, 1)) == date(2026, 3, 1)
    assert d.ended_on(None, date(2026, 2, 1)) == date(2026, 2, 1)
    # rule P1 + U7: a move's last day in the unit left is one rule, in lifecycle's domain.
    assert last_day_before_move(date(2026, 9, 1)) == date(2026, 8, 31)


def test_p1_in_force_from_signature_to_the_last_day() -> None:
    today = date(2026, 5, 1)
    assert d.in_force("active", date(2026, 4, 1), None, today)
    assert d.in_force("ended", date(2026, 4, 1), date(2026, 5, 1), today)
    assert not d.in_force("ended", date(2026, 4, 1), date(2026, 4, 30), today)
    assert not d.in_force("approved", None, None, today)


def test_p1_p2_only_a_correction_of_the_event_that_ended_it_moves_an_ended_agreement() -> None:
    """rules P1, P2: an HR correction moves the end it made; a later move or employment does
    not re-open and extend an agreement an earlier event ended."""
    signed, first_end = date(2026, 3, 1), date(2026, 4, 30)
    # The same move or end, corrected to another day: the end follows (earlier or later).
    assert d.corrected_end(signed, first_end, replaced_last_day=first_end,
                           last_day=date(2026, 5, 14)) == date(2026, 5, 14)
    assert d.corrected_end(signed, first_end, replaced_last_day=first_end,
                           last_day=date(2026, 4, 9)) == date(2026, 4, 9)
    # A new move or employment corrects nothing; another event's end is not this agreement's.
    assert d.corrected_end(signed, first_end, replaced_last_day=None,
                           last_day=date(2026, 8, 31)) is None
    assert d.corrected_end(signed, first_end, replaced_last_day=date(2026, 8, 31),
                           last_day=date(2026, 9, 14)) is None
    # The same day again changes nothing; an end clamped to the signature day still matches.
    assert d.corrected_end(signed, first_end, replaced_last_day=first_end,
                           last_day=first_end) is None
    assert d.corrected_end(signed, signed, replaced_last_day=date(2026, 2, 1),
                           last_day=date(2026, 3, 20)) == date(2026, 3, 20)
