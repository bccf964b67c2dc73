"""Unit tests of the rules of usage and costs (P2), support and repair (S2–S5) and telephony
readiness (B4, U1–U3), without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.inventory import domain_support, domain_telephony, domain_usage
from services.inventory.domain import Holder
from services.inventory.domain_usage import AgreementSpan, allocate
from shared.errors import Conflict, Forbidden, RuleViolation

MARCH = date(2026, 3, 1)
SUB, OTHER = uuid.uuid4(), uuid.uuid4()
TODAY = date(2026, 4, 15)


def _span(valid_from: date, ended_on: date | None = None, subscription: uuid.UUID | None = None
          ) -> AgreementSpan:
    return AgreementSpan(uuid.uuid4(), subscription, valid_from, ended_on)


# --- P2 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "amount"), [("149", "149"), ("149.5", "149.50"),
                                              ("1 020,25", "1020.25"), ("-12.00", "-12")])
def test_p2_amounts_are_sek_with_at_most_two_decimals(text: str, amount: str) -> None:
    assert domain_usage.parse_amount(text) == Decimal(amount)


@pytest.mark.parametrize("text", ["1.999", "12 SEK", "", "1e3", "2000000"])
def test_p2_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(RuleViolation):
        domain_usage.parse_amount(text)


def test_p2_a_period_is_a_month_that_has_begun() -> None:
    assert domain_usage.parse_period("2026-03", today=TODAY) == MARCH
    for bad in ("2026-13", "2026-3", "March", "2026-05"):
        with pytest.raises(RuleViolation):
            domain_usage.parse_period(bad, today=TODAY)
    assert domain_usage.period_end(date(2028, 2, 1)) == date(2028, 2, 29)


def test_p2_a_row_names_a_swedish_number_a_month_and_a_known_category() -> None:
    row = domain_usage.parse_row(7, {"number": "070-123 45 67", "period": "2026-03",
                                     "category": "Roaming", "amount_sek": "10"}, today=TODAY)
    assert (row.line, row.msisdn, row.category) == (7, "+46701234567", "roaming")
    with pytest.raises(RuleViolation, match="unknown"):
        domain_usage.parse_row(2, {"number": "0701234567", "period": "2026-03",
                                   "category": "lottery", "amount_sek": "1"}, today=TODAY)
    with pytest.raises(RuleViolation, match="empty"):
        domain_usage.parse_row(2, {"number": "", "period": "2026-03", "category": "roaming",
                                   "amount_sek": "1"}, today=TODAY)


@pytest.mark.parametrize("category", ["flat-fee", "domestic-calls", "domestic-sms",
                                      "domestic-mms", "domestic-data"])
def test_p2_flat_fee_and_in_plan_use_go_to_the_cost_centre(category: str) -> None:
    allocation = allocate(category, subscription_id=SUB, holder_person_id="p",
                          agreements=[_span(date(2020, 1, 1))], period=MARCH)
    assert allocation.charged_to == "unit"


@pytest.mark.parametrize("category", ["international-calls", "roaming", "premium-services"])
def test_p2_private_extras_go_to_the_employee_only_under_an_agreement(category: str) -> None:
    agreement = _span(date(2026, 1, 1))
    paid = allocate(category, subscription_id=SUB, holder_person_id="p",
                    agreements=[agreement], period=MARCH)
    assert (paid.charged_to, paid.agreement_id) == ("employee", agreement.agreement_id)
    flagged = allocate(category, subscription_id=SUB, holder_person_id="p", agreements=[],
                       period=MARCH)
    assert flagged.charged_to == "flagged" and "P1" in (flagged.reason or "")


def test_p2_the_agreement_must_cover_the_whole_month_and_this_subscription() -> None:
    def charged(*spans: AgreementSpan) -> str:
        return allocate("roaming", subscription_id=SUB, holder_person_id="p", agreements=spans,
                        period=MARCH).charged_to

    assert charged(_span(date(2026, 3, 2))) == "flagged"  # begins within the month
    assert charged(_span(date(2026, 1, 1), ended_on=date(2026, 3, 30))) == "flagged"
    assert charged(_span(date(2026, 1, 1), ended_on=date(2026, 3, 31))) == "employee"  # incl.
    assert charged(_span(date(2026, 1, 1), ended_on=date(2026, 2, 28))) == "flagged"
    assert charged(_span(date(2026, 1, 1), subscription=OTHER)) == "flagged"
    assert charged(_span(date(2026, 1, 1), subscription=SUB)) == "employee"
    assert charged(_span(date(2026, 3, 5)), _span(date(2025, 1, 1))) == "employee"
    partial = allocate("roaming", subscription_id=SUB, holder_person_id="p",
                       agreements=[_span(date(2026, 3, 2))], period=MARCH)
    assert "only part of 2026-03" in (partial.reason or "")


def test_p2_extras_on_a_shared_subscription_are_flagged_and_never_the_employees() -> None:
    allocation = allocate("roaming", subscription_id=SUB, holder_person_id=None,
                          agreements=[], period=MARCH)
    assert allocation.charged_to == "flagged" and "shared" in (allocation.reason or "")
    with pytest.raises(RuleViolation):
        domain_usage.check_resolution(state="open", charge_to="employee", person_id=None)
    domain_usage.check_resolution(state="open", charge_to="unit", person_id=None)
    with pytest.raises(Conflict):
        domain_usage.check_resolution(state="resolved", charge_to="unit", person_id="p")


def test_p2_totals_add_up() -> None:
    totals = domain_usage.Totals()
    for charged, amount in (("unit", "149"), ("employee", "10.5"), ("flagged", "2")):
        totals.add(charged, Decimal(amount))  # type: ignore[arg-type]
    assert totals.total == Decimal("161.5")


# --- S2, S3, S4, S5 -------------------------------------------------------------------------------


@pytest.mark.parametrize("category", ["network-access", "email", "calendar", "app-access"])
def test_s2_these_categories_are_accepted(category: str) -> None:
    decision = domain_support.decide(category, "It stopped syncing", app=None)
    assert (decision.outcome, decision.rule, decision.state) == ("accepted", "S2", "open")


def test_s3_how_an_app_works_goes_to_its_own_support() -> None:
    app = {"name": "Procapita", "contact": "Förvaltningens systemförvaltare"}
    decision = domain_support.decide("app-usage", "How do I file a note?", app=app)
    assert (decision.outcome, decision.rule) == ("routed", "S3")
    assert "Förvaltningens systemförvaltare" in decision.message
    with pytest.raises(RuleViolation, match="S3"):
        domain_support.decide("app-usage", "How?", app=None)


@pytest.mark.parametrize(("category", "text"), [
    ("private-account", "anything"), ("private-service", "anything"),
    ("email", "Add my GMAIL please"), ("app-access", "my Apple-ID is locked"),
    ("calendar", "share my iCloud calendar"), ("email", "min privata e-post")])
def test_s5_private_accounts_and_services_are_refused(category: str, text: str) -> None:
    decision = domain_support.decide(category, text, app=None)
    assert (decision.outcome, decision.rule) == ("refused", "S5")


def test_s5_a_word_that_merely_contains_a_provider_is_not_a_private_account() -> None:
    assert domain_support.decide("email", "The mailbox is full", app=None).outcome == "accepted"


def test_s4_the_holder_confirms_the_current_warning_personally() -> None:
    anna = Holder("anna", None)
    sha = domain_support.WARNING_SHA256
    domain_support.check_repair_warning(anna, person_id="anna", confirmed=True, text_sha256=sha)
    for person, confirmed, text in (("anna", False, sha), ("anna", True, "0" * 64),
                                    ("bo", True, sha)):
        with pytest.raises(RuleViolation, match="S4"):
            domain_support.check_repair_warning(anna, person_id=person, confirmed=confirmed,
                                                text_sha256=text)
    # A shared device: whoever hands it in for the unit confirms.
    domain_support.check_repair_warning(Holder(None, "U"), person_id="bo", confirmed=True,
                                        text_sha256=sha)


# --- B4, U1, U2, U3 -------------------------------------------------------------------------------


def _ext(presence: str = "available", *, forwarded: bool = False, voicemail: bool = True,
         greeting: bool = True, kind: str = "fixed") -> domain_telephony.ExtensionState:
    return domain_telephony.ExtensionState("e1", "0370-1", kind, presence, forwarded,
                                           "växeln" if forwarded else None, voicemail, greeting,
                                           datetime(2026, 3, 2, tzinfo=UTC))


def _missing(*extensions: domain_telephony.ExtensionState) -> list[tuple[str, str]]:
    return [(i.item, i.rule) for i in domain_telephony.checklist(extensions)
            if i.status == "missing"]


def test_b4_no_extension_at_all_is_the_open_item() -> None:
    assert _missing() == [("extension", "B4")]


@pytest.mark.parametrize("presence", ["busy", "away", "off-duty", "offline"])
def test_u2_unavailable_needs_a_forwarding(presence: str) -> None:
    assert _missing(_ext(presence)) == [("forwarding", "U2")]
    assert _missing(_ext(presence, forwarded=True)) == []


@pytest.mark.parametrize("presence", ["available", "in-call"])
def test_u2_reachable_needs_no_forwarding(presence: str) -> None:
    assert _missing(_ext(presence)) == []


def test_u3_voicemail_with_a_personal_greeting() -> None:
    assert _missing(_ext(voicemail=False, greeting=False)) == [("voicemail", "U3"),
                                                               ("greeting", "U3")]
    assert _missing(_ext(greeting=False)) == [("greeting", "U3")]
    # A greeting without voicemail set up is no greeting anyone hears.
    assert _missing(_ext(voicemail=False, greeting=True)) == [("voicemail", "U3"),
                                                              ("greeting", "U3")]


def test_u1_the_person_their_manager_it_and_the_auditor_see_readiness() -> None:
    staffing = domain_telephony.Staffing("p", "U", "m", "head", None)
    for viewer, roles in (("p", {"employee"}), ("m", {"employee"}), ("x", {"it-service"}),
                          ("y", {"auditor"})):
        domain_telephony.check_may_see(viewer, roles, staffing, "p")
    for viewer in ("head", "other"):
        with pytest.raises(Forbidden):
            domain_telephony.check_may_see(viewer, {"department-head"}, staffing, "p")
    # No nearest manager named by HR: the unit's head stands in.
    unmanaged = domain_telephony.Staffing("p", "U", None, "head", None)
    domain_telephony.check_may_see("head", {"department-head"}, unmanaged, "p")
    with pytest.raises(Forbidden):
        domain_telephony.check_may_see("m", {"employee"}, None, "p")



@pytest.mark.parametrize("line", ["+46701234567,2026-03,roaming,12.50",
                                  "+46701234567,2026-03,flat-fee,149",
                                  "+4637012345,2026-01,premium-services,-3.1"])
def test_p2_the_fast_path_reads_a_canonical_line_as_the_full_reader_does(line: str) -> None:
    fast = domain_usage.parse_canonical(9, line, today=TODAY)
    full = domain_usage.parse_row(9, dict(zip(domain_usage.COLUMNS, line.split(","),
                                              strict=True)), today=TODAY)
    assert fast == full


@pytest.mark.parametrize("line", ["0701234567,2026-03,roaming,12.50",  # not E.164: full reader
                                  "+46701234567,2026-13,roaming,1",  # no such month
                                  "+46701234567,2026-03,Roaming,1",  # capitalised
                                  "+46701234567,2026-03,lottery,1",
                                  "+46701234567,2026-03,roaming,1.999",
                                  "+46701234567, 2026-03,roaming,1"])
def test_p2_anything_else_goes_through_the_full_reader(line: str) -> None:
    assert domain_usage.parse_canonical(9, line, today=TODAY) is None


def test_p2_the_fast_path_refuses_a_month_that_has_not_begun() -> None:
    with pytest.raises(RuleViolation, match="not begun"):
        domain_usage.parse_canonical(9, "+46701234567,2026-05,roaming,1", today=TODAY)
