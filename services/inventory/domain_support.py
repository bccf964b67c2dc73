"""Support and repair rules (S1–S5) as plain functions: which cases central IT takes, which go to
an app's own support, which are refused, and the data-loss warning before a repair. No I/O.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from services.inventory.domain import Holder
from shared.errors import Conflict, RuleViolation

Category = Literal["network-access", "email", "calendar", "app-access", "device-fault",
                   "app-usage", "private-account", "private-service"]
Outcome = Literal["accepted", "routed", "refused"]

# rule S2: full support for network access, e-mail, calendar and access to the municipality's
# apps; a device fault is IT service's too (it may lead to a repair, rule S4).
ACCEPTED: dict[str, str] = {"network-access": "S2", "email": "S2", "calendar": "S2",
                            "app-access": "S2", "device-fault": "S4"}
ROUTED = "app-usage"  # rule S3
REFUSED = ("private-account", "private-service")  # rule S5

# rule S5 names Gmail and Apple ID; a case filed under a supported category that is really about
# a private account is refused all the same.
_PRIVATE_ACCOUNT = re.compile(
    r"\b(gmail|google[- ]?konto|google account|apple[- ]?id|icloud|hotmail|outlook\.com|"
    r"yahoo|live\.se|privat[a]? (e-?post|mejl|konto)|private (e-?mail|account))\b", re.I)

S5_REASON = ("Private e-mail accounts (e.g. Gmail, Apple ID) and private services are not "
             "supported on municipal devices (rule S5).")
S3_REASON = ("How an app works and what it contains is answered by that app's own support, not "
             "by central IT support (rule S3).")
BACKUP_ADVICE = ("Support or repair may reset the device: move work photos and other data you "
                 "need to your computer regularly, and before you hand the device in (rule S4).")


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    rule: str
    state: Literal["open", "routed", "refused"]
    message: str


def decide(category: str, description: str, *, app: dict[str, Any] | None) -> Decision:
    """What central IT does with a new case (rules S2, S3, S5)."""
    if category in REFUSED:
        return Decision("refused", "S5", "refused", S5_REASON)
    if category == ROUTED:
        if app is None:
            raise RuleViolation("Say which app the question is about (app_id): its own "
                                "support answers it (rule S3)")
        return Decision("routed", "S3", "routed",
                        f"{S3_REASON} Turn to {app['name']}'s support: {app['contact']}")
    if _PRIVATE_ACCOUNT.search(description):
        return Decision("refused", "S5", "refused", S5_REASON)
    rule = ACCEPTED[category]
    return Decision("accepted", rule, "open",
                    f"IT service has taken your case (rule {rule}). {BACKUP_ADVICE}")


# --- rule S4: the data-loss warning before a repair ---------------------------------------------

WARNING_VERSION = "S4-2020-10-22"
WARNING_TEXT = (
    "Vid support eller reparation kan enheten behöva återställas, och då kan information "
    "försvinna. Du ansvarar själv för att spara värdefull information: för över bilder och annan "
    "data som behövs i tjänsten till din dator innan du lämnar in enheten. / Support or repair "
    "may reset the device, and information on it may then be lost. You are responsible for "
    "saving what is valuable: move work photos and other data you need to your computer before "
    "you hand the device in. (Riktlinje för mobila enheter och telefoni, rule S4)"
)
WARNING_SHA256 = hashlib.sha256(WARNING_TEXT.encode()).hexdigest()


def check_repair_warning(holder: Holder, *, person_id: str, confirmed: bool,
                         text_sha256: str) -> None:
    """rule S4: the holder confirmed, before intake, that they were warned data may be lost."""
    if not confirmed:
        raise RuleViolation("The holder must confirm the warning that the repair may erase the "
                            "device before it is taken in (rule S4)")
    if text_sha256 != WARNING_SHA256:
        raise RuleViolation(f"The confirmed warning is not the current one ({WARNING_VERSION}); "
                            "show GET /v1/support/repair-warning and confirm again (rule S4)")
    if holder.person_id is not None and person_id != holder.person_id:
        raise RuleViolation(f"The warning must be confirmed by the holder {holder.person_id} "
                            "personally (rule S4)")


def check_no_open_repair(device_id: uuid.UUID, action: str, open_repair_id: uuid.UUID | None
                         ) -> None:
    """rules S4, U8: a device taken in for repair leaves it only through its repair, which moves
    the holder's subscriptions and closes the repair; any other way leaves both behind."""
    if open_repair_id is None:
        return
    raise Conflict(f"Device {device_id} is in repair {open_repair_id}, which is still open, so "
                   f"it cannot be {action} directly. Finish the repair: POST "
                   f"/v1/repairs/{open_repair_id}/return gives it back to its holder, POST "
                   f"/v1/repairs/{open_repair_id}/replace gives the holder another device "
                   "(rules S4, U8)")


def channels_from(listed: Iterable[tuple[str, str]], fallback: Mapping[str, str]
                  ) -> dict[str, str]:
    """rule S1: the portal, phone and visit channels from the policy's list (kind, value); two
    of a kind are shown together, and a kind the policy does not name keeps `fallback`'s."""
    values: dict[str, list[str]] = {}
    for kind, value in listed:
        values.setdefault(kind, []).append(value)
    return {kind: " / ".join(values[kind]) if kind in values else default
            for kind, default in fallback.items()}
