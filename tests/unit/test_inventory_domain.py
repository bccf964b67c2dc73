"""Inventory's domain rules without a database: the state machine, identifiers, C1, U8, B1,
U4/U5 and who may see what."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.inventory import domain
from services.inventory.domain import AppNeed, Holder
from shared.errors import Conflict, Forbidden, RuleViolation

DEVICE = uuid.uuid4()
TODAY = date(2026, 3, 1)


def test_state_machine_covers_every_state_and_ends_at_the_supplier() -> None:
    states = {s for pair in domain.TRANSITIONS for s in pair[:1]} | set(
        domain.TRANSITIONS.values())
    assert states == set(domain.DeviceState.__args__)  # type: ignore[attr-defined]
    assert not [k for k in domain.TRANSITIONS if k[0] == "handed-to-supplier"]  # terminal
    assert domain.transition(DEVICE, "in-stock", "reserve") == "reserved"
    assert domain.transition(DEVICE, "issued", "check-in") == "returned"
    assert domain.transition(DEVICE, "returned", "restock") == "in-stock"


@pytest.mark.parametrize("state", ["consumed", "handed-to-supplier"])
@pytest.mark.parametrize("action", ["issue", "reserve", "restock"])
def test_c1_c2_consumed_device_is_never_issued_again(state: str, action: str) -> None:
    with pytest.raises(RuleViolation, match="never be issued again"):
        domain.transition(DEVICE, state, action)


def test_c2_only_a_consumed_device_goes_to_the_supplier() -> None:
    assert domain.transition(DEVICE, "consumed", "hand-to-supplier") == "handed-to-supplier"
    for state in ("in-stock", "issued", "returned", "lost"):
        with pytest.raises(Conflict):
            domain.transition(DEVICE, state, "hand-to-supplier")


def test_c1_the_sweep_reaches_every_state_a_device_is_still_used_in() -> None:
    for state in domain.SWEEPABLE_STATES:
        assert domain.transition(DEVICE, state, "consume") == "consumed"
    for state in ("lost", "consumed", "handed-to-supplier"):
        with pytest.raises(Conflict):
            domain.transition(DEVICE, state, "consume")


def test_luhn_imei_and_iccid() -> None:
    assert domain.check_imei("35-209900-176148-1") == "352099001761481"
    with pytest.raises(RuleViolation, match="Luhn"):
        domain.check_imei("352099001761482")
    with pytest.raises(RuleViolation, match="15 digits"):
        domain.check_imei("3520990017614")
    assert domain.check_iccid("8946 0123 4567 8901 2347") == "89460123456789012347"
    with pytest.raises(RuleViolation, match="Luhn"):
        domain.check_iccid("89460123456789012345")
    with pytest.raises(RuleViolation, match="starting with 89"):
        domain.check_iccid("12460123456789012347")
    assert domain.check_msisdn("070-123 45 67") == "+46701234567"
    with pytest.raises(RuleViolation):
        domain.check_msisdn("+4470123456")


def test_o1_phone_needs_imei_and_intake_needs_order_or_reason() -> None:
    with pytest.raises(RuleViolation, match="IMEI"):
        domain.check_device_identity("phone", None)
    assert domain.check_device_identity("tablet", None) is None
    with pytest.raises(RuleViolation, match="O1"):
        domain.check_intake(None, "")


def test_c1_os_versions_compare_as_numbers() -> None:
    assert domain.os_key("9") < domain.os_key("10")
    assert domain.os_key("17.2") < domain.os_key("17.10")
    with pytest.raises(RuleViolation, match="OS version"):
        domain.os_key("14 beta")


@pytest.mark.parametrize(("end", "max_os", "apps", "reason"), [
    (TODAY, [16], [], "security-updates-ended"),  # the end day itself: ended
    (TODAY - timedelta(days=1), [16], [], "security-updates-ended"),
    (TODAY + timedelta(days=1), [12, 1], [AppNeed("android", [12, 10])],
     "required-app-unsupported"),
    (TODAY + timedelta(days=1), [12, 10], [AppNeed("android", [12, 10])], None),
    (TODAY + timedelta(days=1), [12], [AppNeed("ios", [17])], None),  # another platform
])
def test_c1_consumed_reason(end: date, max_os: list[int], apps: list[AppNeed],
                            reason: str | None) -> None:
    assert domain.consumed_reason(platform="android", security_updates_end=end,
                                  max_os_key=max_os, apps=apps, today=TODAY) == reason


def test_u8_holder_is_one_person_or_one_unit() -> None:
    with pytest.raises(RuleViolation, match="U8"):
        Holder("anna", "SOC-HT")
    with pytest.raises(RuleViolation, match="U8"):
        Holder(None, None)


def test_u8_issuing_a_held_device_to_someone_else_is_return_plus_new_issue() -> None:
    anna, bertil, unit = Holder("anna", None), Holder("bertil", None), Holder(None, "SOC-HT")
    with pytest.raises(RuleViolation, match="Check it in first"):
        domain.check_issue(DEVICE, "issued", anna, bertil)
    with pytest.raises(RuleViolation, match="U8"):
        domain.check_issue(DEVICE, "in-repair", anna, unit)
    with pytest.raises(Conflict, match="already issued"):
        domain.check_issue(DEVICE, "issued", anna, anna)
    domain.check_issue(DEVICE, "in-repair", anna, anna)  # repaired, back to its holder
    domain.check_issue(DEVICE, "reserved", None, bertil)
    with pytest.raises(RuleViolation, match="reserved for person anna"):
        domain.check_reservation_recipient(DEVICE, bertil, recipient_person_id="anna",
                                           order_unit_id="SOC-HT")


def test_o3_a_hand_over_has_exactly_one_ground() -> None:
    order, repair, lost = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def ground(**given: Any) -> dict[str, str]:
        return domain.issue_authority(DEVICE, **({"order_id": None, "repair_id": None,
                                                  "replaces_lost": None,
                                                  "exception_reason": None} | given))

    with pytest.raises(RuleViolation, match="O3"):
        ground()
    assert ground(order_id=order) == {"order_id": str(order)}
    assert ground(repair_id=repair) == {"repair_id": str(repair)}
    assert ground(replaces_lost=lost) == {"replaces_lost_device_id": str(lost)}
    assert ground(exception_reason="Loan phone") == {"exception_reason": "Loan phone"}
    with pytest.raises(RuleViolation, match="exception_reason and order_id"):
        ground(order_id=order, exception_reason="Loan phone")
    with pytest.raises(RuleViolation, match="one ground only"):
        ground(order_id=order, replaces_lost=lost)


def test_u9_a_lost_device_is_replaced_once_for_its_holder_by_the_same_kind() -> None:
    anna, unit = Holder("anna", None), Holder(None, "SOC-HT")

    def check(**changed: Any) -> None:
        given: dict[str, Any] = {"state": "lost", "kind": "phone", "tier": "robust",
                                 "holder": anna, "replaced_by": None, "new": anna,
                                 "new_kind": "phone", "new_tier": "robust"}
        domain.check_lost_replacement(DEVICE, **(given | changed))

    check()
    check(holder=unit, new=unit)  # a shared device: the unit gets the replacement
    with pytest.raises(RuleViolation, match="not lost"):
        check(state="issued")
    with pytest.raises(Conflict, match="already replaced"):
        check(replaced_by=uuid.uuid4())
    with pytest.raises(RuleViolation, match="held by nobody"):
        check(holder=None)
    with pytest.raises(RuleViolation, match="goes to them"):
        check(new=Holder("bertil", None))
    with pytest.raises(RuleViolation, match="goes to them"):
        check(new=unit)
    with pytest.raises(RuleViolation, match="robust phone; its replacement must be one too"):
        check(new_kind="tablet", new_tier=None)
    with pytest.raises(RuleViolation, match=r"not an advanced phone.*O4"):
        check(new_tier="advanced")  # another tier is a new need: ordered and approved
    check(kind="tablet", tier=None, new_kind="tablet", new_tier=None)
    check(tier=None, new_tier="standard")  # a phone registered without a tier
    with pytest.raises(RuleViolation, match=r"not an advanced phone.*O4"):
        check(tier=None, new_tier="advanced")


def test_b1_acknowledgement_is_the_holders_own_of_the_current_terms() -> None:
    anna = Holder("anna", None)
    domain.check_acknowledgement(anna, person_id="anna", accepted=True,
                                 terms_sha256=domain.TERMS_SHA256)
    with pytest.raises(RuleViolation, match="personally"):
        domain.check_acknowledgement(anna, person_id="bertil", accepted=True,
                                     terms_sha256=domain.TERMS_SHA256)
    with pytest.raises(RuleViolation, match="current"):
        domain.check_acknowledgement(anna, person_id="anna", accepted=True, terms_sha256="x")
    # a shared device: whoever receives it for the unit acknowledges
    domain.check_acknowledgement(Holder(None, "SOC-HT"), person_id="bertil", accepted=True,
                                 terms_sha256=domain.TERMS_SHA256)


def test_u4_u5_findings() -> None:
    assert [f.rule for f in domain.findings_for(imei="1", device_known=True,
                                                passcode_set=False, sims=[])] == ["U4"]
    assert domain.findings_for(imei="1", device_known=True, passcode_set=None, sims=[]) == []
    private = domain.findings_for(imei="1", device_known=True, passcode_set=True,
                                  sims=[("8946", False), ("8947", True)])
    assert [(f.rule, f.sim_iccid) for f in private] == [("U5", "8946")]
    stranger = domain.findings_for(imei="1", device_known=False, passcode_set=False,
                                   sims=[("8946", True), ("8947", False)])
    assert [(f.rule, f.sim_iccid) for f in stranger] == [("U5", "8946")]  # no U4: not ours


def test_who_sees_what() -> None:
    it = domain.scope_for("it-1", frozenset({"it-service"}), [])
    assert it.sees(holder_person_id=None, unit_id=None)
    head = domain.scope_for("h", frozenset({"department-head"}), ["A", "A-sub"])
    assert head.sees(holder_person_id="x", unit_id="A-sub")
    assert not head.sees(holder_person_id="x", unit_id="B")
    person = domain.scope_for("p", frozenset({"employee"}), ["A"])
    assert person.unit_ids == frozenset()  # heading needs the role, not just the HR record
    assert person.sees(holder_person_id="p", unit_id="B")
    with pytest.raises(Forbidden):
        domain.scope_for("intune", frozenset({"mdm"}), [])


def test_the_state_diagram_in_docs_is_the_state_machine() -> None:
    """docs/inventory.md draws exactly TRANSITIONS (plus the entry and the final state)."""
    document = (Path(__file__).parents[2] / "docs" / "inventory.md").read_text()
    diagram = document.split("```mermaid", 1)[1].split("```", 1)[0]
    drawn = set()
    for line in diagram.splitlines():
        match = re.fullmatch(r"\s*(\w+) --> (\w+) : ([\w-]+)\s*", line)
        if match and match[1] != "[*]":
            drawn.add(((match[1].replace("_", "-"), match[3]), match[2].replace("_", "-")))
    assert drawn == set(domain.TRANSITIONS.items())


def test_o1_an_order_counts_only_when_inventory_knows_it_approved() -> None:
    order = uuid.uuid4()
    domain.check_intake_order(order, "approved", None)
    domain.check_intake_order(order, None, "Supplier swap stock")
    # As many as it orders, no more, unless a reason is recorded.
    domain.check_intake_order(order, "approved", None, ordered=2, received=1, arriving=1)
    with pytest.raises(RuleViolation, match="O1"):
        domain.check_intake_order(order, "approved", None, ordered=2, received=1, arriving=2)
    domain.check_intake_order(order, "approved", "Spare", ordered=2, received=1, arriving=2)
    for state, reason in [(None, "not known"), ("cancelled", "cancelled")]:
        with pytest.raises(RuleViolation, match=f"{reason}.*O1"):
            domain.check_intake_order(order, state, None)
    with pytest.raises(RuleViolation, match="O1"):
        domain.check_intake_order(None, None, None)


def test_u7_a_return_request_applies_only_to_the_holding_it_names() -> None:
    anna, shared = Holder("anna", None), Holder(None, "SOC-HT")
    assert domain.return_request_applies(anna, person_id="anna", unit_id="SOC-HT")
    assert not domain.return_request_applies(anna, person_id="bertil", unit_id="SOC-HT")
    assert not domain.return_request_applies(None, person_id="anna", unit_id="SOC-HT")
    assert domain.return_request_applies(shared, person_id=None, unit_id="SOC-HT")
    assert not domain.return_request_applies(shared, person_id=None, unit_id="BUF-1")
    assert not domain.return_request_applies(shared, person_id="anna", unit_id="SOC-HT")


def test_u4_u5_unknown_passcode_keeps_u4_open_and_a_serial_names_the_stranger() -> None:
    assert domain.findings_kept_open(device_known=True, passcode_set=None) == ["U4"]
    assert domain.findings_kept_open(device_known=True, passcode_set=False) == []
    assert domain.findings_kept_open(device_known=False, passcode_set=None) == []
    assert domain.findings_for(imei=None, device_known=True, passcode_set=None, sims=[]) == []
    (u5,) = domain.findings_for(imei=None, device_known=False, passcode_set=None,
                                sims=[("8946", True)], serial_number="SN1")
    assert u5.rule == "U5" and "serial SN1" in u5.detail


def test_c1_a_device_its_model_rule_consumed_is_not_handed_out_before_the_sweep() -> None:
    domain.check_not_worn_out(DEVICE, "m-1", None)
    with pytest.raises(RuleViolation, match=r"security updates have ended.*C1"):
        domain.check_not_worn_out(DEVICE, "m-1", "security-updates-ended")
    with pytest.raises(RuleViolation, match=r"app the job needs.*C1"):
        domain.check_not_worn_out(DEVICE, "m-1", "required-app-unsupported")
