"""Orders rules as plain functions: no database, no I/O. Rule IDs: ../shared/guideline/RULES.md.

The service layer loads plain values (catalogue items, the unit, the people) and hands them here;
every refusal a portal can show is raised here, with the rule it enforces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from shared.errors import Conflict, DomainError, Forbidden, RuleViolation
from shared.events.catalogue import SubscriptionScope

DEVICE_KINDS = frozenset({"phone", "tablet"})  # what a SIM may go into (rule U5)
PROTECTION_TYPES = ("screen-protector", "case")  # rule U6
Status = Literal["submitted", "approved", "rejected", "cancelled", "fulfilled"]


class InvalidRequest(DomainError):
    """Well-formed but unusable input that no schema can catch (a stale cursor, a kind's fields)."""

    status, code, title = 422, "invalid-request", "The request has invalid fields"


def is_newer(incoming: datetime, stored: datetime | None) -> bool:
    """Projections apply an event only if it is newer than what they hold (out-of-order safe)."""
    return stored is None or incoming > stored


@dataclass(frozen=True)
class Item:
    """A catalogue item as the rules see it."""

    item_id: str
    kind: str
    name: str
    one_time_price_sek: Decimal
    monthly_price_sek: Decimal
    tier: str | None = None
    model_id: str | None = None
    accessory_type: str | None = None
    fits_model_ids: tuple[str, ...] = ()
    needs_protection: bool = True
    retired: bool = False
    scope: SubscriptionScope | None = None

    def fits(self, model_id: str | None) -> bool:
        return not self.fits_model_ids or model_id in self.fits_model_ids


@dataclass(frozen=True)
class Requested:
    """A line as the orderer asked for it."""

    item_id: str
    quantity: int = 1
    port_in_number: str | None = None


@dataclass(frozen=True)
class Line:
    item: Item
    quantity: int
    added_for_rule: str | None = None

    @property
    def one_time_sek(self) -> Decimal:
        return self.item.one_time_price_sek * self.quantity

    @property
    def monthly_sek(self) -> Decimal:
        return self.item.monthly_price_sek * self.quantity


# --- who may do what (rules O2, O3) ------------------------------------------------------------


def check_orderer(unit_id: str, appointed: bool) -> None:
    """rule O2: only an orderer the unit's head appointed may order for the unit."""
    if not appointed:
        raise Forbidden(
            f"You are not an appointed orderer for unit {unit_id}. The head of the unit appoints "
            "the orderers (rule O2).", rule="O2")


def check_head(unit_id: str, head_person_id: str | None, caller: str) -> None:
    """rule O2: the unit's head, and only the head, appoints and revokes its orderers."""
    if head_person_id is None:
        raise Forbidden(f"Unit {unit_id} has no head registered, so nobody can appoint its "
                        "orderers yet (rule O2).", rule="O2")
    if caller != head_person_id:
        raise Forbidden(f"Only the head of unit {unit_id} appoints and revokes its orderers "
                        "(rule O2).", rule="O2")


def approver_for(orderer_id: str, unit_head: str | None, parent_head: str | None) -> str | None:
    """rule O3: the head of the paying unit decides — but never on their own order.

    Four eyes: when the orderer is the head, the decision goes one level up, to the head of the
    parent unit (the administration or department head the guideline names). None: nobody can.
    """
    if unit_head is not None and unit_head != orderer_id:
        return unit_head
    if unit_head == orderer_id and parent_head is not None and parent_head != orderer_id:
        return parent_head
    return None


def check_approver(unit_id: str, approver: str | None, caller: str, orderer_id: str) -> None:
    if approver is not None and caller == approver:
        return
    if caller == orderer_id:
        raise Forbidden(
            "You placed this order, so you cannot approve or reject it, even as the head of "
            f"unit {unit_id}: the head of the parent unit decides (rule O3).", rule="O3")
    if approver is None:
        raise Forbidden(f"Nobody can decide on this order: unit {unit_id} has no head who is not "
                        "the orderer (rule O3).", rule="O3")
    raise Forbidden(f"Only the head of the paying unit {unit_id} approves or rejects its orders "
                    "(rule O3).", rule="O3")


# --- what may be ordered (rules O1, O4, B3, U5, U6, U8) ---------------------------------------


def check_recipient(unit_id: str, recipient: str | None, person_unit: str | None,
                    employed: bool) -> None:
    """rules O2, U8: a personal order is for a person of the paying unit; None is the unit."""
    if recipient is None:
        return
    if person_unit is None:
        raise RuleViolation(f"{recipient} is not known as an employee of unit {unit_id}; a "
                            "personal order is for a person of the ordering unit (rule O2).",
                            rule="O2")
    if not employed:
        raise RuleViolation(f"{recipient}'s employment has ended; devices go back, none are "
                            "ordered (rule U7).", rule="U7")
    if person_unit != unit_id:
        raise RuleViolation(f"{recipient} works in unit {person_unit}, not in {unit_id}; the "
                            "unit that orders pays, so order from the person's own unit "
                            "(rule O2).", rule="O2")


def check_no_port_in(requested: Sequence[Requested]) -> None:
    """rule B3: porting a phone number into the municipality is not handled."""
    for line in requested:
        if line.port_in_number:
            raise RuleViolation(
                f"Porting the number {line.port_in_number} into the municipality is not handled "
                "(rule B3). Order the subscription with a new municipal number instead.",
                rule="B3")


def resolve(requested: Sequence[Requested], items: dict[str, Item]) -> list[Line]:
    """rule O1: only current items of the standard catalogue can be ordered."""
    seen: set[str] = set()
    lines = []
    for line in requested:
        if line.item_id in seen:
            raise RuleViolation(f"Item {line.item_id} is listed twice; order it once with a "
                                "quantity.", rule="O1")
        seen.add(line.item_id)
        item = items.get(line.item_id)
        if item is None:
            raise RuleViolation(f"{line.item_id} is not in the standard catalogue (rule O1).",
                                rule="O1")
        if item.retired:
            raise RuleViolation(f"{item.name} ({item.item_id}) has been retired from the "
                                "catalogue and can no longer be ordered (rule O1).", rule="O1")
        lines.append(Line(item, line.quantity))
    return lines


def is_advanced_phone(kind: str | None, tier: str | None) -> bool:
    """rule O4: an advanced-tier phone, ordered only for a stated need that the head approves.
    (The listing asks PostgreSQL the same of stored lines: repository.LISTING.)"""
    return kind == "phone" and tier == "advanced"


def needs_justification(lines: Iterable[Line]) -> bool:
    return any(is_advanced_phone(line.item.kind, line.item.tier) for line in lines)


def check_justification(lines: Sequence[Line], justification: str | None) -> None:
    """rule O4: an advanced phone only for a specific need, written down for the head."""
    if needs_justification(lines) and not (justification or "").strip():
        advanced = next(line.item.name for line in lines
                        if is_advanced_phone(line.item.kind, line.item.tier))
        raise RuleViolation(f"{advanced} is an advanced-tier phone: write the specific need in "
                            "`justification` for the head to approve (rule O4).", rule="O4")


def with_protection(lines: list[Line], accessories: Sequence[Item]) -> list[Line]:
    """rule U6: every phone comes with a screen protector and a case unless its model needs
    none or the order already has ones that fit; the cheapest fitting item is added."""
    spare = {line.item.item_id: line.quantity for line in lines
             if line.item.accessory_type in PROTECTION_TYPES}
    by_id = {line.item.item_id: line.item for line in lines}
    added: dict[str, int] = {}
    for phone in (ln for ln in lines if ln.item.kind == "phone" and ln.item.needs_protection):
        for kind in PROTECTION_TYPES:
            missing = phone.quantity
            for item_id, left in spare.items():
                if missing and left and by_id[item_id].accessory_type == kind \
                        and by_id[item_id].fits(phone.item.model_id):
                    used = min(left, missing)
                    spare[item_id], missing = left - used, missing - used
            if missing:
                choice = _cheapest_fitting(accessories, kind, phone.item)
                added[choice.item_id] = added.get(choice.item_id, 0) + missing
                by_id[choice.item_id] = choice
    return lines + [Line(by_id[i], q, added_for_rule="U6") for i, q in added.items()]


def _cheapest_fitting(accessories: Sequence[Item], kind: str, phone: Item) -> Item:
    fitting = [a for a in accessories if a.accessory_type == kind and not a.retired
               and a.fits(phone.model_id)]
    if not fitting:
        raise RuleViolation(
            f"The catalogue has no {kind} for {phone.name}, and rule U6 says a phone comes with "
            "one. IT service must add it to the catalogue (or mark the model as needing none).",
            rule="U6")
    # A model-specific item beats a universal one; then the cheaper, then a stable order.
    return min(fitting, key=lambda a: (not a.fits_model_ids, a.one_time_price_sek, a.item_id))


def check_sim_has_device(lines: Sequence[Line], holds_device: bool, recipient: str) -> None:
    """rule U5: a municipal SIM goes only into a municipal device — one the recipient holds or
    one in this order."""
    sims = sum(line.quantity for line in lines if line.item.kind == "subscription")
    devices = sum(line.quantity for line in lines if line.item.kind in DEVICE_KINDS)
    if sims and not holds_device and devices < sims:
        raise RuleViolation(
            f"{recipient} holds no municipal phone or tablet and this order brings "
            f"{devices} for {sims} subscription(s). A municipal SIM may only be used in a "
            "municipal device (rule U5): add a phone or tablet to the order.", rule="U5")


def devices_expected(lines: Iterable[Line]) -> int:
    """How many phones and tablets inventory issues for the order (fulfilment)."""
    return sum(line.quantity for line in lines if line.item.kind in DEVICE_KINDS)


def totals(lines: Iterable[Line]) -> tuple[Decimal, Decimal]:
    lines = list(lines)
    return (sum((ln.one_time_sek for ln in lines), Decimal("0.00")),
            sum((ln.monthly_sek for ln in lines), Decimal("0.00")))


# --- the order's life --------------------------------------------------------------------------


def check_pending(status: str, action: str) -> None:
    """Approve, reject and cancel are decisions on a submitted order only."""
    if status != "submitted":
        raise Conflict(f"The order is {status}; it can no longer be {action}.",
                       order_status=status)


def check_need_approved(advanced: bool, approve_need: bool, justification: str | None) -> None:
    """rule O4: approving an advanced phone explicitly approves the need stated for it."""
    if advanced and not approve_need:
        raise RuleViolation(
            "This order has an advanced-tier phone. Approving it approves the stated need: "
            f"“{justification}”. Send approve_need: true to approve that need (rule O4).",
            rule="O4")


def check_canceller(caller: str, orderer_id: str) -> None:
    if caller != orderer_id:
        raise Forbidden("Only the orderer who placed the order can cancel it; the head rejects "
                        "instead (rule O3).", rule="O3")


# What inventory activates and reports one by one (a SIM each): accessories and fixed extensions
# are handed over outside its register, so nothing ever reports them (docs/inventory.md).
SUBSCRIPTION_KINDS = frozenset({"subscription", "sim"})


def subscriptions_expected(lines: Iterable[Mapping[str, Any]]) -> int:
    """How many subscriptions inventory activates for the order, from its stored lines."""
    return sum(int(line.get("quantity") or 1) for line in lines
               if line.get("kind") in SUBSCRIPTION_KINDS)


@dataclass(frozen=True)
class Delivered:
    """What inventory reported issued against an order (its device-issued events)."""

    devices: int  # phones and tablets
    subscriptions: int  # activated, with a device or as a SIM of their own
    hand_overs: int  # device-issued events, of any kind
    subscription_ids: frozenset[Any] = frozenset()  # those reported with their id


def count_delivered(deliveries: Iterable[tuple[str | None, Sequence[Any]]]) -> Delivered:
    """The order's deliveries, each (kind, subscription ids activated with it). A device whose
    kind orders has not learnt counts as a phone or tablet; a SIM reported without its
    subscription's id (an older inventory) as one subscription."""
    deliveries = list(deliveries)
    activated = {s for _, ids in deliveries for s in ids}
    return Delivered(
        devices=sum(1 for kind, _ in deliveries if kind in DEVICE_KINDS or kind is None),
        subscriptions=len(activated) + sum(1 for kind, ids in deliveries
                                           if kind == "sim" and not ids),
        hand_overs=len(deliveries), subscription_ids=frozenset(activated))


def is_fulfilled(devices_expected: int, subscriptions: int, delivered: Delivered) -> bool:
    """Every phone and tablet issued and every subscription activated. An order with neither
    is fulfilled when it is approved (`nothing_to_issue`); one approved before subscriptions
    were counted, by its first hand-over."""
    if nothing_to_issue(devices_expected, subscriptions):
        return delivered.hand_overs > 0
    return delivered.devices >= devices_expected and delivered.subscriptions >= subscriptions


def nothing_to_issue(devices_expected: int, subscriptions: int) -> bool:
    """Only accessories (or fixed extensions): inventory will report nothing for the order, so
    approving it is its last step."""
    return not devices_expected and not subscriptions
