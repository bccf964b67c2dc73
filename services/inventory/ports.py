"""The outside systems inventory drives: the MDM (rule B2), the mobile operator (rule U9) and the
telephony platform (rules B4, U2, U3).

Each is a port (a Protocol) that a real adapter implements — Intune / Jamf for the MDM, the
operator's B2B API for SIMs — and an honest simulator behind the same interface, the embedded
default. "Honest" means it refuses what the real system refuses (commands to a device it does
not manage, a wipe of a retired device), can be unavailable, and can leave commands pending the
way a device that is switched off does. docs/inventory.md documents the interface.

Calls are made inside the caller's database transaction and keyed by our ids, so a retried
request or a redelivered event repeats a call harmlessly (enrol returns the same enrolment,
blocking a blocked SIM is a no-op) instead of leaving a half-applied change.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal, Protocol

from shared.errors import DomainError
from shared.settings import InventorySettings, load


class ExternalSystemUnavailable(DomainError):
    status, code, title = 503, "external-unavailable", "An outside system did not answer"


class NotManaged(DomainError):
    """The MDM does not manage this device (never enrolled, or wiped / retired since)."""

    status, code, title = 409, "not-managed", "The device is not managed by the MDM"


CommandState = Literal["pending", "completed", "failed"]


@dataclass(frozen=True)
class MdmDevice:
    device_id: str
    serial_number: str
    imei: str | None
    platform: str
    model_id: str


@dataclass(frozen=True)
class MdmCommand:
    command_id: str
    kind: Literal["wipe", "lost-mode", "retire"]
    state: CommandState


class MdmPort(Protocol):
    """What inventory needs from a device management system (Intune, Jamf, …)."""

    async def enrol(self, device: MdmDevice) -> str:
        """Put the device under management; returns the enrolment id. Idempotent per device:
        the hardware (its serial number) is enrolled once, as Intune's Autopilot and Apple's ADE
        records are, so enrolling it again (a retry, a re-issue) returns the same enrolment."""
        ...

    async def wipe(self, enrolment_id: str) -> MdmCommand:
        """Erase the device (factory reset). The device leaves management once it completes."""
        ...

    async def lost_mode(self, enrolment_id: str, message: str) -> MdmCommand:
        """Lock the device and show `message` on its screen (rule U9)."""
        ...

    async def retire(self, enrolment_id: str) -> MdmCommand:
        """Remove the device from management (it leaves the municipality, rule C2)."""
        ...

    async def command(self, command_id: str) -> MdmCommand:
        """The current state of an earlier command."""
        ...


class OperatorPort(Protocol):
    """What inventory needs from the mobile operator."""

    async def activate(self, iccid: str, msisdn: str, *, calls: bool, sms: bool, mms: bool,
                       data_gb: int) -> None: ...

    async def block(self, iccid: str) -> None:
        """Bar the SIM at once (rule U9); idempotent."""
        ...

    async def terminate(self, iccid: str, msisdn: str) -> None: ...

    async def replace_sim(self, old_iccid: str, new_iccid: str, msisdn: str) -> None:
        """Move the number to a new SIM (a SIM swap, rule U9): the new SIM carries it at once;
        the old one, barred, is closed for good. Idempotent."""
        ...


@dataclass
class _Managed:
    device: MdmDevice
    enrolled: bool = True
    lost_mode: bool = False


@dataclass
class MdmSimulator:
    """An in-memory MDM. `auto_complete=False` leaves wipes pending until `complete()`, as a
    switched-off device does; `available=False` makes every call fail like an outage."""

    auto_complete: bool = True
    available: bool = True
    devices: dict[str, _Managed] = field(default_factory=dict)
    by_serial: dict[str, str] = field(default_factory=dict)  # serial number -> enrolment id
    commands: dict[str, tuple[MdmCommand, str]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def _check(self) -> None:
        if not self.available:
            raise ExternalSystemUnavailable(
                "The device management system (MDM) did not answer; nothing was changed. "
                "Try again in a moment.")

    def _managed(self, enrolment_id: str) -> _Managed:
        managed = self.devices.get(enrolment_id)
        if managed is None or not managed.enrolled:
            raise NotManaged(f"The MDM does not manage enrolment {enrolment_id} (any more)")
        return managed

    async def enrol(self, device: MdmDevice) -> str:
        self._check()
        enrolment_id = self.by_serial.setdefault(device.serial_number, f"mdm-{device.device_id}")
        self.devices[enrolment_id] = _Managed(device)
        return enrolment_id

    def _issue(self, kind: Literal["wipe", "lost-mode", "retire"], enrolment_id: str
               ) -> MdmCommand:
        command = MdmCommand(f"cmd-{next(self._ids)}", kind,
                             "completed" if self.auto_complete else "pending")
        self.commands[command.command_id] = (command, enrolment_id)
        if command.state == "completed":
            self._apply(command, enrolment_id)
        return command

    def _apply(self, command: MdmCommand, enrolment_id: str) -> None:
        managed = self.devices[enrolment_id]
        if command.kind in ("wipe", "retire"):
            managed.enrolled, managed.lost_mode = False, False
        else:
            managed.lost_mode = True

    async def wipe(self, enrolment_id: str) -> MdmCommand:
        self._check()
        self._managed(enrolment_id)
        return self._issue("wipe", enrolment_id)

    async def lost_mode(self, enrolment_id: str, message: str) -> MdmCommand:
        self._check()
        self._managed(enrolment_id)
        return self._issue("lost-mode", enrolment_id)

    async def retire(self, enrolment_id: str) -> MdmCommand:
        self._check()
        self._managed(enrolment_id)
        return self._issue("retire", enrolment_id)

    async def command(self, command_id: str) -> MdmCommand:
        self._check()
        if command_id not in self.commands:
            raise NotManaged(f"The MDM knows no command {command_id}")
        return self.commands[command_id][0]

    def complete(self, command_id: str) -> None:
        """The device came online and carried out the command (simulation control)."""
        command, enrolment_id = self.commands[command_id]
        done = MdmCommand(command.command_id, command.kind, "completed")
        self.commands[command_id] = (done, enrolment_id)
        self._apply(done, enrolment_id)

    def is_managed(self, device_id: str) -> bool:
        return any(managed.enrolled for managed in self.devices.values()
                   if managed.device.device_id == device_id)


@dataclass
class OperatorSimulator:
    """An in-memory operator: SIM states as the operator's network sees them."""

    available: bool = True
    sims: dict[str, str] = field(default_factory=dict)  # iccid -> active | blocked | terminated
    numbers: dict[str, str] = field(default_factory=dict)  # msisdn -> the iccid carrying it

    def _check(self) -> None:
        if not self.available:
            raise ExternalSystemUnavailable(
                "The mobile operator did not answer; nothing was changed. Try again in a moment.")

    async def activate(self, iccid: str, msisdn: str, *, calls: bool, sms: bool, mms: bool,
                       data_gb: int) -> None:
        self._check()
        if self.sims.get(iccid) in ("blocked", "terminated"):
            raise NotManaged(f"The operator refuses to activate SIM {iccid}: it is "
                             f"{self.sims[iccid]}")
        self.sims[iccid], self.numbers[msisdn] = "active", iccid

    async def block(self, iccid: str) -> None:
        self._check()
        self.sims[iccid] = "blocked"

    async def terminate(self, iccid: str, msisdn: str) -> None:
        self._check()
        self.sims[iccid] = "terminated"
        self.numbers.pop(msisdn, None)

    async def replace_sim(self, old_iccid: str, new_iccid: str, msisdn: str) -> None:
        """The number moves to `new_iccid` from whichever SIM carries it (`old_iccid` unless an
        earlier swap moved it already); that SIM is closed."""
        self._check()
        carrying = self.numbers.get(msisdn, old_iccid)
        if carrying == new_iccid:
            return  # done before: a retry
        if self.sims.get(new_iccid) in ("blocked", "terminated"):
            raise NotManaged(f"The operator refuses to move {msisdn} to SIM {new_iccid}: it is "
                             f"{self.sims[new_iccid]}")
        self.sims[carrying], self.sims[new_iccid] = "terminated", "active"
        self.numbers[msisdn] = new_iccid


@dataclass(frozen=True)
class ExtensionStatus:
    """One extension as the telephony platform sees it (rule B4): its presence and forwarding
    (hänvisning, U2) and its voicemail (U3). `observed_at` is when it last changed."""

    extension_id: str
    number: str
    kind: Literal["fixed", "mobile"]
    person_id: str | None
    presence: str
    forwarding_active: bool
    forwarding_target: str | None
    voicemail_set_up: bool
    personal_greeting: bool
    observed_at: datetime
    removed: bool = False


@dataclass(frozen=True)
class TelephonySnapshot:
    snapshot_id: str
    extensions: Sequence[ExtensionStatus]


class TelephonyPort(Protocol):
    """What inventory needs from the telephony platform (a PBX / UC system)."""

    async def snapshot(self) -> TelephonySnapshot:
        """Every extension's current state, each with the time it last changed."""
        ...


@dataclass
class TelephonySimulator:
    """An in-memory telephony platform. Extensions must be provisioned before they change, as
    on a real switch; `available=False` makes it fail like an outage."""

    available: bool = True
    extensions: dict[str, ExtensionStatus] = field(default_factory=dict)

    def provision(self, extension_id: str, number: str, kind: Literal["fixed", "mobile"],
                  person_id: str | None) -> ExtensionStatus:
        status = ExtensionStatus(extension_id, number, kind, person_id, "available", False,
                                 None, False, False, datetime.now(UTC))
        self.extensions[extension_id] = status
        return status

    def change(self, extension_id: str, **changes: object) -> ExtensionStatus:
        """The person (or the switch) changed presence, forwarding or voicemail."""
        if extension_id not in self.extensions:
            raise NotManaged(f"The telephony platform has no extension {extension_id}")
        status = replace(self.extensions[extension_id], **changes,  # type: ignore[arg-type]
                         observed_at=datetime.now(UTC))
        self.extensions[extension_id] = status
        return status

    async def snapshot(self) -> TelephonySnapshot:
        if not self.available:
            raise ExternalSystemUnavailable(
                "The telephony platform did not answer; nothing was changed. Try again in a "
                "moment.")
        return TelephonySnapshot(f"sim-{uuid.uuid4()}", tuple(self.extensions.values()))


_mdm: MdmPort | None = None
_operator: OperatorPort | None = None
_telephony: TelephonyPort | None = None


def mdm() -> MdmPort:
    """The configured MDM adapter (KM_INVENTORY_MDM_ADAPTER; the simulator by default)."""
    global _mdm
    if _mdm is None:
        load(InventorySettings)  # only "simulator" is accepted so far; a typo stops the start
        _mdm = MdmSimulator()
    return _mdm


def operator() -> OperatorPort:
    global _operator
    if _operator is None:
        load(InventorySettings)
        _operator = OperatorSimulator()
    return _operator


def telephony() -> TelephonyPort:
    """The configured telephony adapter (KM_INVENTORY_TELEPHONY_ADAPTER; the simulator)."""
    global _telephony
    if _telephony is None:
        load(InventorySettings)
        _telephony = TelephonySimulator()
    return _telephony
