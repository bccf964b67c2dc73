"""Telephony readiness (rules B4, U1, U2, U3) as plain functions. No database, no I/O.

Every call is answered (U1): each extension — fixed or mobile (B4) — is forwarded whenever its
person cannot take calls (U2), and has voicemail with a personal greeting (U3). The checklist
lists each of these per extension; a person with no extension at all is a gap too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from shared.errors import Forbidden

Presence = Literal["available", "in-call", "busy", "away", "off-duty", "offline"]
# A person in a call is reachable (the call waits or goes to voicemail by the platform's busy
# rule); every other state means they cannot take calls now, so U2 wants a forwarding.
REACHABLE: frozenset[str] = frozenset({"available", "in-call"})

ItemName = Literal["extension", "forwarding", "voicemail", "greeting"]
Status = Literal["ok", "missing"]


@dataclass(frozen=True)
class ExtensionState:
    extension_id: str
    number: str
    kind: str
    presence: str
    forwarding_active: bool
    forwarding_target: str | None
    voicemail_set_up: bool
    personal_greeting: bool
    observed_at: datetime


@dataclass(frozen=True)
class Item:
    item: ItemName
    rule: str
    status: Status
    detail: str
    extension_id: str | None = None
    number: str | None = None


def _forwarding(e: ExtensionState) -> Item:
    if e.presence in REACHABLE:
        return Item("forwarding", "U2", "ok", f"{e.number} is {e.presence}: calls reach you",
                    e.extension_id, e.number)
    if e.forwarding_active and e.forwarding_target:
        return Item("forwarding", "U2", "ok",
                    f"{e.number} is {e.presence} and forwarded to {e.forwarding_target}",
                    e.extension_id, e.number)
    return Item("forwarding", "U2", "missing",
                f"{e.number} is {e.presence} but not forwarded: set a forwarding (hänvisning) "
                "whenever you cannot take calls", e.extension_id, e.number)


def _voicemail(e: ExtensionState) -> list[Item]:
    voicemail = Item("voicemail", "U3", "ok" if e.voicemail_set_up else "missing",
                     f"voicemail on {e.number} is set up" if e.voicemail_set_up
                     else f"set up voicemail on {e.number}", e.extension_id, e.number)
    greeting_ok = e.voicemail_set_up and e.personal_greeting
    greeting = Item("greeting", "U3", "ok" if greeting_ok else "missing",
                    f"the personal greeting on {e.number} is active" if greeting_ok
                    else f"record and activate a personal voicemail greeting on {e.number}",
                    e.extension_id, e.number)
    return [voicemail, greeting]


def checklist(extensions: Sequence[ExtensionState]) -> list[Item]:
    """A person's checklist: for every extension, forwarding (U2), voicemail and greeting (U3);
    with no extension reported at all, that is the one open item (B4)."""
    if not extensions:
        return [Item("extension", "B4", "missing",
                     "the telephony platform reports no extension of yours: ask IT service")]
    items: list[Item] = []
    for extension in sorted(extensions, key=lambda e: (e.kind, e.number)):
        items.append(_forwarding(extension))
        items.extend(_voicemail(extension))
    return items


# --- who sees whose readiness (U1) --------------------------------------------------------------


@dataclass(frozen=True)
class Staffing:
    """What inventory knows of a person: their unit, nearest manager, and the unit's head."""

    person_id: str
    unit_id: str | None
    nearest_manager_id: str | None
    unit_head_id: str | None
    last_day: date | None

    @property
    def manager_id(self) -> str | None:
        """The nearest manager; when HR named none, the head of the person's unit."""
        return self.nearest_manager_id or self.unit_head_id


def check_may_see(viewer: str, roles: Iterable[str], staffing: Staffing | None,
                  person_id: str) -> None:
    """rule U1: the person and their manager see the readiness; IT service and the auditor all."""
    if set(roles) & {"it-service", "auditor"} or viewer == person_id:
        return
    if staffing is not None and staffing.manager_id == viewer:
        return
    raise Forbidden("You may see only your own telephony readiness, or your staff's as their "
                    "manager")
