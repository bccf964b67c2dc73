"""Inventory rules as plain functions: no database, no I/O. Rule IDs: ../shared/guideline/RULES.md.

The device state machine lives here (`TRANSITIONS`); docs/inventory.md draws it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from shared.errors import Conflict, Forbidden, RuleViolation

# --- the device state machine ------------------------------------------------------------------

DeviceState = Literal["in-stock", "reserved", "issued", "in-repair", "lost", "returned",
                      "consumed", "handed-to-supplier"]
Action = Literal["reserve", "release", "issue", "check-in", "restock", "send-to-repair",
                 "report-lost", "consume", "hand-to-supplier"]

# rule C1: the states the consumed sweep looks at (the SQL in repository/sweep.py uses it).
SWEEPABLE_STATES: tuple[str, ...] = ("in-stock", "reserved", "issued", "in-repair", "returned")

TRANSITIONS: dict[tuple[str, str], str] = {
    ("in-stock", "reserve"): "reserved",
    ("in-stock", "issue"): "issued",
    ("in-stock", "send-to-repair"): "in-repair",
    ("reserved", "release"): "in-stock",
    ("reserved", "issue"): "issued",
    ("issued", "check-in"): "returned",
    ("issued", "send-to-repair"): "in-repair",
    # Repaired and given back to the same holder (check_issue refuses anyone else, rule U8).
    ("in-repair", "issue"): "issued",
    # A lost device that turns up is checked in like any return (and wiped before stock).
    ("lost", "check-in"): "returned",
    # rule C3: a consumed device is handed in to IT service; it stays consumed.
    ("consumed", "check-in"): "consumed",
    # Back to stock only after the MDM confirmed the wipe (see service.restock).
    ("returned", "restock"): "in-stock",
    ("in-repair", "restock"): "in-stock",
    ("returned", "send-to-repair"): "in-repair",
    # rule C2: only a consumed device goes back to the supplier, with the erasure confirmation.
    ("consumed", "hand-to-supplier"): "handed-to-supplier",
}
for _state in ("in-stock", "reserved", "issued", "in-repair", "returned", "consumed"):
    TRANSITIONS[(_state, "report-lost")] = "lost"  # rule U9
for _state in SWEEPABLE_STATES:
    TRANSITIONS[(_state, "consume")] = "consumed"  # rule C1

HOLDING_STATES = frozenset({"issued", "in-repair"})  # the holder keeps the device's link


def transition(device_id: uuid.UUID, state: str, action: str) -> str:
    """The state after `action`, or a problem a portal can show (409, or 422 naming the rule)."""
    target = TRANSITIONS.get((state, action))
    if target is not None:
        return target
    if state in ("consumed", "handed-to-supplier") and action in ("issue", "reserve", "restock"):
        raise RuleViolation(f"Device {device_id} is {state}: a consumed device can never be "
                            "issued again (rules C1, C2)")
    raise Conflict(f"Device {device_id} is {state}; it cannot be {_past(action)} now")


def _past(action: str) -> str:
    return {"reserve": "reserved", "release": "released", "issue": "issued",
            "check-in": "checked in", "restock": "put back in stock",
            "send-to-repair": "sent to repair", "report-lost": "reported lost",
            "consume": "marked consumed", "hand-to-supplier": "handed to the supplier"}[action]


# --- identifiers -------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def check_imei(imei: str) -> str:
    """15 digits whose last is the Luhn check digit (3GPP TS 23.003)."""
    cleaned = re.sub(r"[\s-]", "", imei)
    if not re.fullmatch(r"\d{15}", cleaned):
        raise RuleViolation(f"IMEI {imei!r} must be 15 digits")
    if not luhn_valid(cleaned):
        raise RuleViolation(f"IMEI {imei!r} has a wrong check digit (Luhn)")
    return cleaned


def check_iccid(iccid: str) -> str:
    """19 or 20 digits starting with 89 (telecom), Luhn check digit last (ITU-T E.118)."""
    cleaned = re.sub(r"\s", "", iccid)
    if not re.fullmatch(r"89\d{17,18}", cleaned):
        raise RuleViolation(f"ICCID {iccid!r} must be 19 or 20 digits starting with 89")
    if not luhn_valid(cleaned):
        raise RuleViolation(f"ICCID {iccid!r} has a wrong check digit (Luhn)")
    return cleaned


def check_msisdn(number: str) -> str:
    """A Swedish number in E.164 form; rule B3: numbers are ours, never ported in."""
    cleaned = re.sub(r"[\s-]", "", number)
    if cleaned.startswith("0"):
        cleaned = "+46" + cleaned[1:]
    if not re.fullmatch(r"\+46\d{7,10}", cleaned):
        raise RuleViolation(f"Phone number {number!r} must be a Swedish number, e.g. +4670…")
    return cleaned


def os_key(version: str) -> list[int]:
    """'17.2' -> [17, 2]: compared as integers, so 9 < 10 (rule C1 compares OS versions)."""
    if not re.fullmatch(r"\d{1,4}(\.\d{1,4}){0,3}", version.strip()):
        raise RuleViolation(f"OS version {version!r} must look like 14, 17.2 or 10.0.1")
    return [int(part) for part in version.strip().split(".")]


def check_intake(order_id: uuid.UUID | None, intake_exception: str | None) -> None:
    """rule O1: nothing enters the inventory without an order, or a recorded exception."""
    if order_id is None and not intake_exception:
        raise RuleViolation(
            "A device without an order needs a recorded reason (intake_exception), rule O1"
        )


def check_intake_order(order_id: uuid.UUID | None, order_state: str | None,
                       intake_exception: str | None, *, ordered: int = 0, received: int = 0,
                       arriving: int = 0) -> None:
    """rule O1: an order counts only if it is an approved order inventory learnt of (its
    order-approved arrived), and only for as many devices as it orders (`ordered` phones and
    tablets, `received` of them taken in already, `arriving` now): any other order id, or one
    order for any number of devices, would let anything in without a reason."""
    check_intake(order_id, intake_exception)
    if order_id is None or intake_exception:
        return
    if order_state != "approved":
        known = "is not known to inventory" if order_state is None else f"is {order_state}"
        raise RuleViolation(f"Order {order_id} {known}: only an approved order takes a device "
                            "in; otherwise record why it enters (intake_exception), rule O1")
    if received + arriving > ordered:
        raise RuleViolation(
            f"Order {order_id} orders {ordered} phone(s) or tablet(s) and {received} were taken "
            f"in against it already, so it does not cover {arriving} more: record why they "
            "enter (intake_exception), rule O1")


def check_device_identity(kind: str, imei: str | None) -> str | None:
    """Phones need an IMEI (SIM pairing, rule U5); Wi-Fi tablets may have none."""
    if imei is None:
        if kind == "phone":
            raise RuleViolation("A phone needs its IMEI (rule U5 pairs SIMs with devices)")
        return None
    return check_imei(imei)


# --- rule C1: when a model is consumed ---------------------------------------------------------

ConsumedReason = Literal["security-updates-ended", "required-app-unsupported"]


@dataclass(frozen=True)
class AppNeed:
    platform: str
    min_os_key: Sequence[int]


def consumed_reason(*, platform: str, security_updates_end: date, max_os_key: Sequence[int],
                    apps: Iterable[AppNeed], today: date) -> ConsumedReason | None:
    """rule C1, as the sweep's SQL decides it: updates ended on or before today, else an app
    of the same platform needs a higher OS than the model can run."""
    if security_updates_end <= today:
        return "security-updates-ended"
    if any(app.platform == platform and list(app.min_os_key) > list(max_os_key) for app in apps):
        return "required-app-unsupported"
    return None


def check_not_worn_out(device_id: uuid.UUID, model_id: str, reason: ConsumedReason | None
                       ) -> None:
    """rule C1: a device its model's rule has consumed is not handed out while it waits for the
    sweep (reservation skips such models the same way)."""
    if reason is not None:
        why = ("its security updates have ended" if reason == "security-updates-ended"
               else "an app the job needs no longer installs on it")
        raise RuleViolation(f"Device {device_id} is consumed: {why} (model {model_id}, rule "
                            "C1). The sweep will mark it; hand out another device")


# --- issuing: rules U8 and B1 ------------------------------------------------------------------

TERMS_VERSION = "B1-2020-10-22"
TERMS_TEXT = (
    "Värnamo kommun äger den här enheten och informationen i den. Arbetsgivaren har rätt att ta "
    "del av till exempel sms, foton och kalenderanteckningar. Offentlighetsprincipen gäller: "
    "utomstående kan begära ut informationen. / Värnamo municipality owns this device and the "
    "information on it. The employer may read e.g. SMS, photos and calendar entries. The public "
    "access principle applies: outsiders may request the information. (Riktlinje för mobila "
    "enheter och telefoni, rule B1)"
)
TERMS_SHA256 = hashlib.sha256(TERMS_TEXT.encode()).hexdigest()


@dataclass(frozen=True)
class Holder:
    """rule U8: one person (personal) or one unit (shared), never both."""

    person_id: str | None
    unit_id: str | None

    def __post_init__(self) -> None:
        if (self.person_id is None) == (self.unit_id is None):
            raise RuleViolation("A device is held by one person or by one unit, never both "
                                "and never neither (rule U8)")

    @property
    def describe(self) -> str:
        return f"person {self.person_id}" if self.person_id else f"unit {self.unit_id}"


def check_issue(device_id: uuid.UUID, state: str, current: Holder | None, new: Holder) -> None:
    """rule U8: a held device is never handed straight to someone else: return + new issue."""
    if current is not None and current != new and state in HOLDING_STATES:
        raise RuleViolation(
            f"Device {device_id} is held by {current.describe}; it cannot be handed over to "
            f"{new.describe}. Check it in first, then issue it anew (rule U8)")
    if state == "issued":
        raise Conflict(f"Device {device_id} is already issued to {new.describe}")
    if state == "in-repair" and current is None:
        raise Conflict(f"Device {device_id} is in repair; put it back in stock first")
    transition(device_id, state, "issue")


def issue_authority(device_id: uuid.UUID, *, order_id: uuid.UUID | None,
                    repair_id: uuid.UUID | None, replaces_lost: uuid.UUID | None,
                    exception_reason: str | None) -> dict[str, str]:
    """rules O3, O1: what allows a hand-over, for the audit trail. Exactly one of: the approved
    order the device is reserved for, the repair it finishes or replaces in (S4, U8), the lost
    device it replaces like for like (U9; that one was handed out on its own ground), or IT
    service's recorded exception."""
    given = {"order_id": order_id, "repair_id": repair_id,
             "replaces_lost_device_id": replaces_lost, "exception_reason": exception_reason}
    present = {name: str(value) for name, value in given.items() if value is not None}
    if not present:
        raise RuleViolation(
            f"Device {device_id} is reserved for no approved order. Issue the device reserved "
            "for the order, name the lost device it replaces (replaces_lost_device_id, rule U9), "
            "or record why IT service makes an exception (exception_reason) (rule O3)")
    if len(present) > 1:
        raise RuleViolation(
            f"Device {device_id} can be issued on one ground only, not on "
            f"{' and '.join(sorted(present))}: a reserved device goes to its order (rule O3)")
    return present


def check_lost_replacement(lost_id: uuid.UUID, *, state: str, kind: str, tier: str | None,
                           holder: Holder | None, replaced_by: uuid.UUID | None,
                           new: Holder, new_kind: str, new_tier: str | None) -> None:
    """rule U9: a loss opens a replacement path — one device of the same kind and tier for the
    same holder (U8: the person, or the unit of a shared device), once per loss. Another tier
    is a new need: ordered and approved (O3, O4)."""
    if state != "lost":
        raise RuleViolation(f"Device {lost_id} is {state}, not lost; only a lost device is "
                            "replaced this way (rule U9)")
    if replaced_by is not None:
        raise Conflict(f"Lost device {lost_id} was already replaced by device {replaced_by}")
    if holder is None:
        raise RuleViolation(f"Lost device {lost_id} was held by nobody (its order, if any, is "
                            "reserved another device); there is no holder to replace it for")
    if holder != new:
        raise RuleViolation(f"Lost device {lost_id} was held by {holder.describe}; its "
                            f"replacement goes to them, not to {new.describe} (rules U9, U8)")
    # A model without a tier (tablets; phones registered without one) is matched on its kind,
    # but an advanced device is always a need of its own (O4).
    if kind != new_kind or (new_tier != tier and (tier is not None or new_tier == "advanced")):
        raise RuleViolation(f"Lost device {lost_id} is {_a(kind, tier)}; its replacement must "
                            f"be one too, not {_a(new_kind, new_tier)} (rule U9). Anything else "
                            "is ordered and approved (rules O3, O4)")


def _a(kind: str, tier: str | None) -> str:
    words = f"{tier} {kind}" if tier else kind
    return ("an " if words[0] in "aeiou" else "a ") + words


def return_request_applies(holder: Holder | None, *, person_id: str | None,
                           unit_id: str | None) -> bool:
    """rule U7: a return case is about one holding. A request delivered late, after the device
    came back and went to someone else, is not about the new holder (their check-in must not name
    it). A shared device's case names no person, only the unit that holds it."""
    if holder is None:
        return False
    if holder.person_id is not None:
        return holder.person_id == person_id
    return person_id is None and unit_id in (None, holder.unit_id)


def check_reservation_recipient(device_id: uuid.UUID, new: Holder, *,
                                recipient_person_id: str | None, order_unit_id: str | None
                                ) -> None:
    """A reserved device goes to whom the approved order names (rule O3): the recipient, or the
    ordering unit when the order was for a shared device (rule U8)."""
    if recipient_person_id is not None and new.person_id != recipient_person_id:
        raise RuleViolation(f"Device {device_id} is reserved for person {recipient_person_id}; "
                            "issue it to them, or release the reservation first")
    if recipient_person_id is None and order_unit_id and new.unit_id != order_unit_id:
        raise RuleViolation(f"Device {device_id} is reserved as a shared device of unit "
                            f"{order_unit_id} (rule U8)")


def check_acknowledgement(holder: Holder, *, person_id: str, accepted: bool,
                          terms_sha256: str) -> None:
    """rule B1: the person receiving the device acknowledged the current ownership terms."""
    if not accepted:
        raise RuleViolation("The holder must acknowledge the ownership terms (rule B1)")
    if terms_sha256 != TERMS_SHA256:
        raise RuleViolation(f"The acknowledged terms are not the current ones ({TERMS_VERSION}); "
                            "show GET /v1/terms/ownership and acknowledge again (rule B1)")
    if holder.person_id is not None and person_id != holder.person_id:
        raise RuleViolation(f"The ownership terms must be acknowledged by the holder "
                            f"{holder.person_id} personally (rule B1)")


# --- rules U4, U5: compliance reports from the MDM ---------------------------------------------


@dataclass(frozen=True)
class Finding:
    rule: Literal["U4", "U5"]
    detail: str
    sim_iccid: str | None = None


def findings_for(*, imei: str | None, device_known: bool, passcode_set: bool | None,
                 sims: Sequence[tuple[str, bool]], serial_number: str | None = None
                 ) -> list[Finding]:
    """What one reported device breaks. `sims` pairs each ICCID seen with "is it ours"."""
    found: list[Finding] = []
    if device_known and passcode_set is False:
        found.append(Finding("U4", "The device has no passcode, PIN or biometric lock (rule U4)"))
    for iccid, ours in sims:
        if device_known and not ours:
            found.append(Finding("U5", f"A private SIM ({iccid}) is in a municipal device "
                                       "(rule U5)", iccid))
        elif not device_known and ours:
            found.append(Finding("U5", f"The municipal SIM {iccid} is in a device that is not "
                                       f"the municipality's ({_identity(imei, serial_number)}) "
                                       "(rule U5)",
                                 iccid))
    return found


def _identity(imei: str | None, serial_number: str | None) -> str:
    if imei is None and serial_number:
        return f"IMEI unknown, serial {serial_number}"
    return f"IMEI {imei or 'unknown'}"


def findings_kept_open(*, device_known: bool, passcode_set: bool | None) -> list[str]:
    """Rules an entry says nothing about, so their open findings stay open: an MDM that could
    not read the passcode state (None) has not shown the U4 finding fixed."""
    return ["U4"] if device_known and passcode_set is None else []


# --- who may see what --------------------------------------------------------------------------

PERSON_ROLES = ("it-service", "auditor", "department-head", "orderer", "employee",
                "guideline-owner")


@dataclass(frozen=True)
class Scope:
    """What a caller may read: everything, the devices of some units, or their own."""

    everything: bool
    person_id: str
    unit_ids: frozenset[str] = frozenset()

    def sees(self, *, holder_person_id: str | None, unit_id: str | None,
             holder_unit_id: str | None = None) -> bool:
        if self.everything or (holder_person_id is not None
                               and holder_person_id == self.person_id):
            return True
        return bool({unit_id, holder_unit_id} & self.unit_ids)


def scope_for(person_id: str, roles: frozenset[str], headed_units: Iterable[str]) -> Scope:
    """IT service and the auditor read everything; a head their units' devices (and below);
    every person their own."""
    if roles & {"it-service", "auditor"}:
        return Scope(True, person_id)
    if not roles & set(PERSON_ROLES):
        raise Forbidden("These credentials are not a person's: only the MDM endpoint takes them")
    units = frozenset(headed_units) if "department-head" in roles else frozenset()
    return Scope(False, person_id, units)


def check_visible(scope: Scope, what: str, *, holder_person_id: str | None, unit_id: str | None,
                  holder_unit_id: str | None = None) -> None:
    if not scope.sees(holder_person_id=holder_person_id, unit_id=unit_id,
                      holder_unit_id=holder_unit_id):
        raise Forbidden(f"You may see only your own {what}s, or your units' as their head")
