"""Losses (rule U9): a reported loss blocks the SIMs, locks the device through the MDM and is
announced as `device-lost`; it opens a replacement path — one device of the same kind and tier
for the same holder, issued without a new order (issuing.issue with `replaces_lost_device_id`).
Lifecycle takes the report and links the intranet's loss instruction. Never commits."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain, ports
from services.inventory.fulfilment import activated_event, reopen_line_of
from services.inventory.models import Device, DeviceModel, Subscription
from services.inventory.records import SYSTEM, audit_device, holder_of, snapshot, touch
from services.inventory.repository import (
    DeviceRepository,
    ModelRepository,
    RepairRepository,
    TelephonyRepository,
)
from shared.audit import record_audit
from shared.errors import Conflict, DomainError, RuleViolation
from shared.events.catalogue import DeviceLost, LossReported
from shared.messaging.outbox import add_event

log = logging.getLogger(__name__)


LOST_MODE_MESSAGE = ("Den här enheten tillhör Värnamo kommun. Hittad? Ring 0370-377800. / "
                     "This device belongs to Värnamo kommun. Found it? Call +46 370 377800.")


async def abandon_open_repair(session: AsyncSession, device: Device, actor: str, *,
                               because: str, **extra: str) -> None:
    """rules S4, U9: a device lost in repair closes the repair as `abandoned`, else it blocks
    every later intake of the device for good (one open repair per device). No repair-completed
    (v1 outcomes only): `device-lost` announces it. The sweep does so in SQL (C1)."""
    repair = await RepairRepository(session).open_of(device.device_id)
    if repair is None:
        return
    repair.state, repair.closed_by, repair.closed_at = "abandoned", actor, datetime.now(UTC)
    await record_audit(session, actor=actor, action="repair.abandoned", object_type="repair",
                       object_id=str(repair.repair_id), before={"state": "in-repair"},
                       after={"state": "abandoned", "because": because, **extra})


async def on_loss_reported(session: AsyncSession, event: LossReported) -> None:
    """rule U9: block the SIM, lock the device through the MDM, announce device-lost."""
    device = await DeviceRepository(session).get(event.device_id, for_update=True)
    if device is None or device.state == "lost":
        if device is None:
            log.warning("loss-reported for device %s, which is not in the register",
                        event.device_id)
        return
    try:
        target = domain.transition(device.device_id, device.state, "report-lost")
    except DomainError as exc:
        log.warning("loss-reported for device %s ignored: %s", device.device_id, exc.detail)
        return
    before, was_reserved = snapshot(device), device.state == "reserved"
    sim_blocked = await _block_sims(session, device.device_id, device.holder_person_id)
    mdm_action: str = "none"
    if device.mdm_enrolment_id is not None:
        try:
            await ports.mdm().lost_mode(device.mdm_enrolment_id, LOST_MODE_MESSAGE)
            mdm_action = "lost-mode"
        except ports.NotManaged:
            device.mdm_enrolment_id = None
    device.state, device.loss_id = target, event.loss_id
    touch(device)
    await abandon_open_repair(session, device, SYSTEM, because="device-lost",
                               device_id=str(device.device_id), loss_id=str(event.loss_id))
    await session.flush()
    await audit_device(session, SYSTEM, "device.report-lost", device, before,
                       loss_id=str(event.loss_id), reported_by=event.reported_by,
                       sim_blocked=sim_blocked, mdm_action=mdm_action)
    await add_event(session, DeviceLost(
        device_id=device.device_id, person_id=device.holder_person_id or event.person_id,
        loss_id=event.loss_id, sim_blocked=sim_blocked, mdm_action=mdm_action,  # type: ignore[arg-type]
        unit_id=device.holder_unit_id or device.unit_id), subject=str(device.device_id))
    if was_reserved:  # the approved order still needs a device (rule O3)
        await reopen_line_of(session, device.device_id)


async def _block_sims(session: AsyncSession, device_id: uuid.UUID, holder_person_id: str | None
                      ) -> bool:
    """rule U9: the SIMs paired with the device, and the holder's active SIMs paired with none
    (kept at a check-in, or activated alone): a municipal SIM goes only into a municipal device
    (rule U5), so such a SIM is in the lost device or in none, and blocking it is safe."""
    telephony = TelephonyRepository(session)
    subscriptions = list(await telephony.live_on_device(device_id))
    if holder_person_id is not None:
        subscriptions += await telephony.unpaired_active_of(holder_person_id)
    blocked = False
    for subscription in subscriptions:
        sim = await telephony.sim(subscription.sim_id)
        if sim is None or (subscription.device_id is None and sim.state != "active"):
            continue
        await ports.operator().block(sim.iccid)
        before, sim.state, blocked = sim.state, "blocked", True
        await record_audit(session, actor=SYSTEM, action="sim.block", object_type="sim",
                           object_id=sim.iccid, before={"state": before},
                           after={"state": "blocked", "device_id": str(device_id)})
    return blocked


async def lost_device_to_replace(session: AsyncSession, lost_id: uuid.UUID, *,
                                 new: domain.Holder, replacement: DeviceModel,
                                 unit_id: str | None) -> Device:
    """rule U9: the lost device a hand-over replaces, locked so that a loss is replaced once.
    `unit_id`: the unit the caller named for the replacement, if any."""
    lost = await DeviceRepository(session).get(lost_id, for_update=True)
    if lost is None:
        raise RuleViolation(f"Device {lost_id} (replaces_lost_device_id) is not in the register")
    lost_model = await ModelRepository(session).get(lost.model_id)
    assert lost_model is not None  # a device's model is a foreign key
    domain.check_lost_replacement(lost_id, state=lost.state, kind=lost.kind,
                                  tier=lost_model.tier,
                                  holder=holder_of(lost),
                                  replaced_by=lost.replaced_by_device_id, new=new,
                                  new_kind=replacement.kind, new_tier=replacement.tier)
    if unit_id is not None and lost.unit_id not in (None, unit_id):
        raise RuleViolation(f"The replacement belongs to the lost device's unit {lost.unit_id}, "
                            f"not to {unit_id}: that unit pays for it; "
                            "a device for another unit is ordered there (rules U9, O2)")
    return lost


@dataclass(frozen=True)
class SimSwap:
    """A number moving from a barred SIM to a new one, recorded and waiting for the operator."""

    subscription: Subscription
    old_iccid: str
    new_iccid: str


async def move_numbers(session: AsyncSession, lost: Device, replacement: Device, actor: str
                       ) -> list[SimSwap]:
    """rule U9: the holder keeps the lost device's numbers. Each of its subscriptions whose SIM
    the loss barred moves to a SIM from stock in the replacement; the barred SIM is closed. The
    register changes here, with every SIM locked first (too few in stock: 409, nothing changed);
    the operator's SIM swaps are the caller's last step (`swap_at_operator`). A number kept from
    an earlier device, paired with none, is not moved: nothing says it was in the lost one."""
    telephony = TelephonyRepository(session)
    barred = []
    for subscription in await telephony.live_on_device(lost.device_id):
        old = await telephony.sim(subscription.sim_id)
        if old is not None and old.state == "blocked":
            barred.append((subscription, old))
    fresh = await telephony.free_sims(len(barred)) if barred else []
    if len(fresh) < len(barred):
        raise Conflict(f"{len(barred)} SIMs are needed to move the lost device's numbers, "
                       f"{len(fresh)} are in stock: register SIMs (POST /v1/sims) and issue the "
                       "replacement again (rule U9)")
    swaps = []
    for (subscription, old), new in zip(barred, fresh, strict=True):
        old.state, new.state = "terminated", "active"
        subscription.sim_id, subscription.device_id = new.sim_id, replacement.device_id
        await record_audit(session, actor=actor, action="subscription.sim-swap",
                           object_type="subscription",
                           object_id=str(subscription.subscription_id),
                           before={"sim_iccid": old.iccid, "device_id": str(lost.device_id)},
                           after={"sim_iccid": new.iccid,
                                  "device_id": str(replacement.device_id)})
        await add_event(session, activated_event(subscription, new.iccid),
                        subject=str(subscription.subscription_id))
        swaps.append(SimSwap(subscription, old.iccid, new.iccid))
    return swaps


async def swap_at_operator(swaps: list[SimSwap]) -> None:
    """The operator's part of `move_numbers`, last, so that only a failed commit can leave the
    operator ahead of the register; the operator's swap is idempotent, so IT service's retry of
    the replacement then settles it."""
    for swap in swaps:
        await ports.operator().replace_sim(swap.old_iccid, swap.new_iccid,
                                           swap.subscription.msisdn)


async def record_replacement(session: AsyncSession, lost: Device, replacement: uuid.UUID,
                             actor: str) -> None:
    before = snapshot(lost)
    lost.replaced_by_device_id = replacement
    touch(lost)
    await session.flush()
    await audit_device(session, actor, "device.replaced", lost, before,
                       replacement_device_id=str(replacement))
