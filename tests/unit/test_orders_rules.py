"""The ordering rules of services/orders/domain.py, without a database (rule IDs: RULES.md)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.orders import domain
from services.orders.domain import Item, Line, Requested
from shared.errors import Conflict, Forbidden, RuleViolation


def phone(item_id: str = "phone-std", tier: str = "standard", model: str = "m-std",
          needs_protection: bool = True, price: str = "4290") -> Item:
    return Item(item_id, "phone", f"Phone {item_id}", Decimal(price), Decimal("45"), tier=tier,
                model_id=model, needs_protection=needs_protection)


def accessory(item_id: str, kind: str, fits: tuple[str, ...] = (), price: str = "149",
              retired: bool = False) -> Item:
    return Item(item_id, "accessory", item_id, Decimal(price), Decimal("0"),
                accessory_type=kind, fits_model_ids=fits, retired=retired)


PLAN = Item("sub-5gb", "subscription", "Mobil 5 GB", Decimal("0"), Decimal("69"))
TABLET = Item("tab", "tablet", "Tablet", Decimal("2790"), Decimal("45"), model_id="m-tab")
PROTECTION = [accessory("prot-std", "screen-protector", ("m-std",)),
              accessory("case-std", "case", ("m-std",), price="249"),
              accessory("case-any", "case", price="99")]


def test_o2_only_an_appointed_orderer_orders() -> None:
    with pytest.raises(Forbidden, match="not an appointed orderer") as refused:
        domain.check_orderer("SOC-1", appointed=False)
    assert refused.value.extra["rule"] == "O2"
    domain.check_orderer("SOC-1", appointed=True)


def test_o2_only_the_head_appoints() -> None:
    domain.check_head("SOC-1", "head-1", "head-1")
    with pytest.raises(Forbidden, match="Only the head"):
        domain.check_head("SOC-1", "head-1", "someone")
    with pytest.raises(Forbidden, match="no head"):
        domain.check_head("SOC-1", None, "someone")


def test_o2_recipient_must_work_in_the_ordering_unit() -> None:
    domain.check_recipient("SOC-1", None, None, False)  # the unit itself (rule U8)
    domain.check_recipient("SOC-1", "p-1", "SOC-1", True)
    with pytest.raises(RuleViolation, match="works in unit SOC-2"):
        domain.check_recipient("SOC-1", "p-1", "SOC-2", True)
    with pytest.raises(RuleViolation, match="not known"):
        domain.check_recipient("SOC-1", "p-1", None, False)
    with pytest.raises(RuleViolation, match="employment has ended"):
        domain.check_recipient("SOC-1", "p-1", "SOC-1", False)


def test_o3_head_approves_but_never_their_own_order() -> None:
    assert domain.approver_for("orderer-1", "head-1", "admin-head") == "head-1"
    # Four eyes: the head's own order goes to the head of the parent unit.
    assert domain.approver_for("head-1", "head-1", "admin-head") == "admin-head"
    assert domain.approver_for("head-1", "head-1", None) is None
    assert domain.approver_for("head-1", "head-1", "head-1") is None
    assert domain.approver_for("orderer-1", None, "admin-head") is None
    with pytest.raises(Forbidden, match="You placed this order"):
        domain.check_approver("SOC-1", "admin-head", "head-1", "head-1")
    with pytest.raises(Forbidden, match="Only the head"):
        domain.check_approver("SOC-1", "head-1", "it-1", "orderer-1")
    with pytest.raises(Forbidden, match="Nobody can decide"):
        domain.check_approver("SOC-1", None, "it-1", "orderer-1")
    domain.check_approver("SOC-1", "head-1", "head-1", "orderer-1")


def test_b3_porting_a_number_in_is_refused() -> None:
    domain.check_no_port_in([Requested("sub-5gb")])
    with pytest.raises(RuleViolation, match="B3") as refused:
        domain.check_no_port_in([Requested("sub-5gb", port_in_number="0701234567")])
    assert refused.value.extra["rule"] == "B3"


def test_o1_only_current_catalogue_items_can_be_ordered() -> None:
    items = {"phone-std": phone(), "old": Item("old", "phone", "Old", Decimal(1), Decimal(0),
                                               tier="standard", retired=True)}
    assert [ln.item.item_id for ln in domain.resolve([Requested("phone-std", 2)], items)] == [
        "phone-std"]
    with pytest.raises(RuleViolation, match="retired"):
        domain.resolve([Requested("old")], items)
    with pytest.raises(RuleViolation, match="not in the standard catalogue"):
        domain.resolve([Requested("nope")], items)
    with pytest.raises(RuleViolation, match="listed twice"):
        domain.resolve([Requested("phone-std"), Requested("phone-std")], items)


def test_o4_advanced_phone_needs_written_justification_and_approval_of_the_need() -> None:
    advanced = [Line(phone("adv", tier="advanced"), 1)]
    with pytest.raises(RuleViolation, match="O4"):
        domain.check_justification(advanced, None)
    with pytest.raises(RuleViolation, match="O4"):
        domain.check_justification(advanced, "   ")
    domain.check_justification(advanced, "Fältfoto i hög upplösning för bygglovsärenden")
    domain.check_justification([Line(phone(), 1)], None)
    with pytest.raises(RuleViolation, match="approve_need"):
        domain.check_need_approved(True, False, "need")
    domain.check_need_approved(True, True, "need")
    domain.check_need_approved(False, False, None)


def test_u6_phone_gets_fitting_protector_and_case() -> None:
    lines = domain.with_protection([Line(phone(), 2)], PROTECTION)
    added = {ln.item.item_id: (ln.quantity, ln.added_for_rule) for ln in lines[1:]}
    # Model-specific beats universal, even when the universal case is cheaper.
    assert added == {"prot-std": (2, "U6"), "case-std": (2, "U6")}


def test_u6_nothing_added_when_the_order_has_them_or_the_model_needs_none() -> None:
    own = [Line(phone(), 1), Line(PROTECTION[0], 1), Line(PROTECTION[2], 1)]
    assert domain.with_protection(own, PROTECTION) == own
    robust = [Line(phone("rob", "robust", "m-rob", needs_protection=False), 1)]
    assert domain.with_protection(robust, PROTECTION) == robust
    tablet = [Line(TABLET, 1)]
    assert domain.with_protection(tablet, PROTECTION) == tablet


def test_u6_tops_up_what_the_order_lacks_and_refuses_when_the_catalogue_has_none() -> None:
    lines = domain.with_protection([Line(phone(), 2), Line(PROTECTION[0], 1)], PROTECTION)
    assert [(ln.item.item_id, ln.quantity, ln.added_for_rule) for ln in lines[2:]] == [
        ("prot-std", 1, "U6"), ("case-std", 2, "U6")]
    with pytest.raises(RuleViolation, match="no screen-protector"):
        domain.with_protection([Line(phone(model="m-new"), 1)], PROTECTION)
    retired = [accessory("p", "screen-protector", retired=True), PROTECTION[2]]
    with pytest.raises(RuleViolation, match="U6"):
        domain.with_protection([Line(phone(), 1)], retired)


def test_u5_subscription_needs_a_municipal_device_held_or_ordered() -> None:
    domain.check_sim_has_device([Line(PLAN, 1)], holds_device=True, recipient="p-1")
    domain.check_sim_has_device([Line(PLAN, 1), Line(phone(), 1)], False, "p-1")
    domain.check_sim_has_device([Line(PLAN, 1), Line(TABLET, 1)], False, "p-1")
    with pytest.raises(RuleViolation, match="U5"):
        domain.check_sim_has_device([Line(PLAN, 1)], holds_device=False, recipient="p-1")
    with pytest.raises(RuleViolation, match="U5"):
        domain.check_sim_has_device([Line(PLAN, 2), Line(phone(), 1)], False, "p-1")
    domain.check_sim_has_device([Line(phone(), 1)], False, "p-1")  # no SIM, nothing to check


def test_totals_and_expected_devices() -> None:
    lines = [Line(phone(), 2), Line(PLAN, 2), Line(PROTECTION[0], 2, "U6")]
    assert domain.totals(lines) == (Decimal("8878"), Decimal("228"))
    assert domain.devices_expected(lines) == 2


def test_only_a_submitted_order_is_decided_or_cancelled_and_only_by_its_orderer() -> None:
    domain.check_pending("submitted", "approved")
    for status in ("approved", "rejected", "cancelled", "fulfilled"):
        with pytest.raises(Conflict, match=f"is {status}"):
            domain.check_pending(status, "cancelled")
    domain.check_canceller("o-1", "o-1")
    with pytest.raises(Forbidden):
        domain.check_canceller("head-1", "o-1")


def test_fulfilled_when_every_phone_and_tablet_is_issued_and_every_subscription_active() -> None:
    def delivered(devices: int, subscriptions: int, hand_overs: int) -> domain.Delivered:
        return domain.Delivered(devices, subscriptions, hand_overs)

    assert not domain.is_fulfilled(2, 0, delivered(1, 0, 3))
    assert domain.is_fulfilled(2, 0, delivered(2, 0, 2))
    # A phone and two SIMs (one for a phone the recipient holds): the phone is not enough.
    assert not domain.is_fulfilled(1, 2, delivered(1, 1, 1))
    assert domain.is_fulfilled(1, 2, delivered(1, 2, 2))
    # Two SIMs alone: the first SIM is not enough.
    assert not domain.is_fulfilled(0, 2, delivered(0, 1, 1))
    assert domain.is_fulfilled(0, 2, delivered(0, 2, 2))
    # Neither (approved before subscriptions were counted): the first hand-over.
    assert not domain.is_fulfilled(0, 0, delivered(0, 0, 0))
    assert domain.is_fulfilled(0, 0, delivered(0, 0, 1))


def test_deliveries_count_unknown_kinds_as_devices_and_a_subscription_once() -> None:
    first, second = object(), object()
    counted = domain.count_delivered([
        ("phone", [first]), (None, []), ("sim", [first]), ("sim", [second]), ("sim", []),
        ("accessory", [])])
    assert (counted.devices, counted.subscriptions, counted.hand_overs) == (2, 3, 6)
    assert counted.subscription_ids == {first, second}


def test_subscriptions_expected_from_the_stored_lines_and_accessories_need_no_issue() -> None:
    stored: list[dict[str, object]] = [
        {"kind": "phone", "quantity": 1}, {"kind": "subscription", "quantity": 2},
        {"kind": "accessory", "quantity": 3}, {"kind": "sim"}]
    assert domain.subscriptions_expected(stored) == 3
    assert domain.nothing_to_issue(0, 0)
    assert not domain.nothing_to_issue(0, 1) and not domain.nothing_to_issue(1, 0)
