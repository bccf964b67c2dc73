"""A device's way through the hands of people: issue (B1, B2, U8), check-in and wipe (C3),
repair (S4), loss (U9) and hand-over to the supplier (C2). Never commits."""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain, domain_support, losses, ports
from services.inventory.fulfilment import activate, fill_backorders
from services.inventory.models import Acknowledgement, Device, Subscription
from services.inventory.records import SYSTEM, audit_device, holder_of, snapshot, today, touch
from services.inventory.repository import (
    AcknowledgementRepository,
    DeviceRepository,
    FulfilmentRepository,
    ModelRepository,
    RepairRepository,
    TelephonyRepository,
)
from services.inventory.schemas import CheckInIn, HandOverIn, IssueIn, RestockIn
from shared.audit import record_audit
from shared.errors import NotFound, RuleViolation
from shared.events.catalogue import (
    DeviceHandedToSupplier,
    DeviceIssued,
    DeviceReturned,
    ReturnRequested,
    SubscriptionTerminated,
)
from shared.messaging.outbox import add_event

log = logging.getLogger(__name__)


async def locked_device(session: AsyncSession, device_id: uuid.UUID) -> Device:
    device = await DeviceRepository(session).get(device_id, for_update=True)
    if device is None:
        raise NotFound(f"Device {device_id} is not in the register")
    return device


async def _refuse_open_repair(session: AsyncSession, device: Device, action: str, *,
                              finishing: uuid.UUID | None = None) -> None:
    """Only the repair itself (`finishing`, repairs.py) takes a device out of an open repair."""
    if device.state != "in-repair":
        return
    repair = await RepairRepository(session).open_of(device.device_id)
    open_id = repair.repair_id if repair is not None else None
    domain_support.check_no_open_repair(device.device_id, action,
                                        None if open_id == finishing else open_id)


async def issue(session: AsyncSession, *, actor: str, device_id: uuid.UUID, data: IssueIn,
                finishing_repair: uuid.UUID | None = None, for_repair: uuid.UUID | None = None
                ) -> tuple[Device, Acknowledgement, list[Subscription]]:
    """`finishing_repair`: the repair this device leaves (back to its holder); `for_repair`: the
    repair whose holder gets this device instead. Either is the hand-over's ground (rule O3)."""
    device = await locked_device(session, device_id)
    await _refuse_open_repair(session, device, "issued", finishing=finishing_repair)
    new = domain.Holder(data.holder_person_id, data.holder_unit_id)
    domain.check_issue(device_id, device.state, holder_of(device), new)
    fulfilment = FulfilmentRepository(session)
    line = await fulfilment.reserved_line_of(device_id) if device.state == "reserved" else None
    order = await fulfilment.order(line.order_id) if line else None
    ground = domain.issue_authority(
        device_id, order_id=order.order_id if order else None,
        repair_id=finishing_repair or for_repair,
        replaces_lost=data.replaces_lost_device_id, exception_reason=data.exception_reason)
    if order is not None:
        domain.check_reservation_recipient(device_id, new, order_unit_id=order.unit_id,
                                           recipient_person_id=order.recipient_person_id)
    models = ModelRepository(session)
    model = await models.get(device.model_id)
    assert model is not None
    lost = None if data.replaces_lost_device_id is None else await losses.lost_device_to_replace(
        session, data.replaces_lost_device_id, new=new, replacement=model, unit_id=data.unit_id)
    if new.unit_id and data.unit_id not in (None, new.unit_id):
        raise RuleViolation(f"A shared device belongs to the unit that holds it, "
                            f"{new.unit_id} (rule U8)")
    unit_id = new.unit_id or (order.unit_id if order else lost.unit_id if lost else None) \
        or data.unit_id or device.unit_id
    if unit_id is None:
        raise RuleViolation("Say which unit the personal device belongs to (unit_id): its head "
                            "answers for it and its cost centre pays")
    ack = data.acknowledgement
    domain.check_acknowledgement(new, person_id=ack.person_id, accepted=ack.accepted,
                                 terms_sha256=ack.terms_sha256)
    domain.check_not_worn_out(device_id, model.model_id, domain.consumed_reason(
        platform=model.platform, security_updates_end=model.security_updates_end,
        max_os_key=model.max_os_key, today=today(),
        apps=[domain.AppNeed(app.platform, app.min_os_key) for app in await models.apps()]))
    # rule B2: every issued smartphone and tablet is managed.
    enrolment = await ports.mdm().enrol(ports.MdmDevice(
        str(device_id), device.serial_number, device.imei, model.platform, model.model_id))
    before = snapshot(device)
    device.state = domain.transition(device_id, device.state, "issue")
    device.holder_person_id, device.holder_unit_id, device.unit_id = (
        new.person_id, new.unit_id, unit_id)
    device.mdm_enrolment_id, device.wipe_command_id = enrolment, None
    touch(device)
    acknowledgement = Acknowledgement(
        acknowledgement_id=uuid.uuid4(), device_id=device_id, person_id=ack.person_id,
        terms_version=domain.TERMS_VERSION, terms_sha256=ack.terms_sha256,
        acknowledged_at=ack.acknowledged_at or datetime.now(UTC), recorded_by=actor)
    await AcknowledgementRepository(session).add(acknowledgement)
    subscriptions, activated = [], []
    if line is not None and order is not None:
        line.state = "issued"
        # One reserved subscription of the order goes into each device handed over.
        unpaired = await TelephonyRepository(session).unpaired_of_order(order.order_id)
        if unpaired:
            activated.append(await activate(session, unpaired[0], device=device, actor=actor))
            subscriptions.append(unpaired[0])
    swaps = [] if lost is None else await losses.move_numbers(session, lost, device, actor)
    subscriptions += [swap.subscription for swap in swaps]
    await session.flush()
    await audit_device(session, actor, "device.issue", device, before,
                       acknowledgement_id=str(acknowledgement.acknowledgement_id),
                       mdm_enrolment_id=enrolment, **ground)
    if lost is not None:
        await losses.record_replacement(session, lost, device_id, actor)
    await add_event(session, DeviceIssued(
        device_id=device_id, order_id=order.order_id if order else None,
        holder_person_id=new.person_id, unit_id=unit_id, issued_by=actor,
        terms_acknowledged_at=acknowledgement.acknowledged_at, kind=device.kind,  # type: ignore[arg-type]
        model_id=device.model_id, mdm_enrolment_id=enrolment,
        subscription_ids=tuple(s.subscription_id for s in subscriptions),
        replaces_device_id=data.replaces_lost_device_id),
        subject=str(device_id))
    for event in activated:
        await add_event(session, event, subject=str(event.subscription_id))
    await losses.swap_at_operator(swaps)  # last: see there
    return device, acknowledgement, subscriptions


async def check_in(session: AsyncSession, *, actor: str, device_id: uuid.UUID, data: CheckInIn
                   ) -> Device:
    """rules C3, U7: a device comes back to IT service; it is wiped before it goes to stock."""
    device = await locked_device(session, device_id)
    before = snapshot(device)
    target = domain.transition(device_id, device.state, "check-in")
    from_person, unit_id = device.holder_person_id, device.holder_unit_id or device.unit_id
    await _settle_subscriptions(session, device, terminate=data.subscriptions == "terminate",
                                actor=actor)
    return_case_id = data.return_case_id or device.open_return_case_id
    # A lost device that turns up ends its loss: a later loss of it is replaced anew (U9).
    replaced_by, device.replaced_by_device_id = device.replaced_by_device_id, None
    device.state, device.holder_person_id, device.holder_unit_id = target, None, None
    device.open_return_case_id = None
    wiped = await _wipe(device)
    touch(device)
    await session.flush()
    await audit_device(session, actor, "device.check-in", device, before,
                       return_case_id=_text(return_case_id), wipe_command_id=device.wipe_command_id,
                       subscriptions=data.subscriptions,
                       **({"was_replaced_by": str(replaced_by)} if replaced_by else {}))
    if from_person is not None or unit_id is not None:
        await add_event(session, DeviceReturned(
            device_id=device_id, from_person_id=from_person, unit_id=unit_id or "",
            received_by=actor, return_case_id=return_case_id, kind=device.kind,  # type: ignore[arg-type]
            wiped=wiped), subject=str(device_id))
    if target == "returned":
        if data.condition == "needs-repair":
            await move(session, device, "send-to-repair", actor)
        elif wiped:
            await _to_stock(session, device, actor, evidence=f"MDM {device.wipe_command_id}")
    return device


async def _settle_subscriptions(session: AsyncSession, device: Device, *, terminate: bool,
                                actor: str) -> None:
    telephony = TelephonyRepository(session)
    for subscription in await telephony.live_on_device(device.device_id):
        if not terminate:
            # Kept for the holder's next device: the number stays theirs, the SIM moves with it.
            subscription.device_id = None
            await record_audit(session, actor=actor, action="subscription.unpair",
                               object_type="subscription",
                               object_id=str(subscription.subscription_id),
                               before={"device_id": str(device.device_id)},
                               after={"device_id": None})
            continue
        await terminate_subscription(session, subscription, actor=actor,
                                     reason=f"device {device.device_id} returned")


async def terminate_subscription(session: AsyncSession, subscription: Subscription, *,
                                 actor: str, reason: str) -> None:
    telephony = TelephonyRepository(session)
    sim = await telephony.sim(subscription.sim_id)
    assert sim is not None
    await ports.operator().terminate(sim.iccid, subscription.msisdn)
    before = {"state": subscription.state}
    subscription.state, subscription.terminated_at = "terminated", datetime.now(UTC)
    sim.state = "terminated"
    await telephony.set_number_state(subscription.msisdn, "free")
    await record_audit(session, actor=actor, action="subscription.terminate",
                       object_type="subscription", object_id=str(subscription.subscription_id),
                       before=before, after={"state": "terminated", "reason": reason})
    await add_event(session, SubscriptionTerminated(
        subscription_id=subscription.subscription_id, phone_number=subscription.msisdn,
        reason=reason, unit_id=subscription.unit_id,
        holder_person_id=subscription.holder_person_id),
        subject=str(subscription.subscription_id))


async def _wipe(device: Device) -> bool:
    """Ask the MDM to wipe; True when it confirmed at once. A device the MDM does not manage
    needs a wipe by hand (restock asks for the confirmation)."""
    if device.mdm_enrolment_id is None:
        return False
    try:
        command = await ports.mdm().wipe(device.mdm_enrolment_id)
    except ports.NotManaged:
        device.mdm_enrolment_id = None
        return False
    device.wipe_command_id = command.command_id
    return command.state == "completed"


async def move(session: AsyncSession, device: Device, action: str, actor: str, **extra: str
               ) -> None:
    before = snapshot(device)
    device.state = domain.transition(device.device_id, device.state, action)
    touch(device)
    await session.flush()
    await audit_device(session, actor, f"device.{action}", device, before, **extra)


async def _to_stock(session: AsyncSession, device: Device, actor: str, *, evidence: str) -> None:
    """Wiped: back to stock, and a waiting order may take it at once."""
    device.holder_person_id = device.holder_unit_id = device.unit_id = None
    device.mdm_enrolment_id = device.wipe_command_id = None  # a wiped device leaves the MDM
    await move(session, device, "restock", actor, wipe_evidence=evidence)
    await fill_backorders(session, models=[device.model_id])


async def restock(session: AsyncSession, *, actor: str, device_id: uuid.UUID, data: RestockIn
                  ) -> Device:
    device = await locked_device(session, device_id)
    domain.transition(device_id, device.state, "restock")
    await _refuse_open_repair(session, device, "put back in stock")
    if data.manual_wipe_confirmation:
        evidence = f"by hand: {data.manual_wipe_confirmation}"
    elif device.wipe_command_id is not None:
        command = await ports.mdm().command(device.wipe_command_id)
        if command.state != "completed":
            raise RuleViolation(f"The MDM has not confirmed the wipe of device {device_id} yet "
                                f"(command {command.command_id} is {command.state}); the "
                                "information on it is the municipality's (rule B1)")
        evidence = f"MDM {command.command_id}"
    else:
        raise RuleViolation(f"Device {device_id} has no confirmed wipe: the MDM does not manage "
                            "it, so confirm the wipe by hand (manual_wipe_confirmation)")
    # Only a device still held (in repair, no repair row) is returned here; a checked-in one
    # keeps its unit_id but was announced returned at check-in already.
    holder = holder_of(device)
    unit_id = device.holder_unit_id or device.unit_id
    await _to_stock(session, device, actor, evidence=evidence)
    if holder is not None:
        await add_event(session, DeviceReturned(
            device_id=device_id, from_person_id=holder.person_id, unit_id=unit_id or "",
            received_by=actor, kind=device.kind, wiped=True), subject=str(device_id))  # type: ignore[arg-type]
    return device


async def send_to_repair(session: AsyncSession, *, actor: str, device_id: uuid.UUID) -> Device:
    """A device nobody holds (in stock, returned) goes to repair. A held one is taken in through
    repairs.intake, which records the holder's confirmation of the data-loss warning (S4)."""
    device = await locked_device(session, device_id)
    if device.state == "issued":
        raise RuleViolation(f"Device {device_id} is held by {holder_of(device).describe}: take it "  # type: ignore[union-attr]
                            "in with POST /v1/repairs, which records the holder's confirmation "
                            "that the repair may erase it (rule S4)")
    await move(session, device, "send-to-repair", actor)
    return device


async def hand_over(session: AsyncSession, *, actor: str, device_id: uuid.UUID,
                    data: HandOverIn) -> Device:
    """rule C2: a consumed device goes back to the supplier, who confirms the erasure."""
    device = await locked_device(session, device_id)
    domain.transition(device_id, device.state, "hand-to-supplier")
    if holder_of(device) is not None:
        raise RuleViolation(f"Device {device_id} is still held by "
                            f"{holder_of(device).describe}: it is handed in to IT service "  # type: ignore[union-attr]
                            "first (check it in, rule C3)")
    if device.mdm_enrolment_id is not None:
        with contextlib.suppress(ports.NotManaged):  # wiped already: nothing to retire
            await ports.mdm().retire(device.mdm_enrolment_id)
    device.supplier, device.erasure_confirmation = data.supplier, data.erasure_confirmation
    device.mdm_enrolment_id = device.wipe_command_id = None
    device.unit_id = None
    await move(session, device, "hand-to-supplier", actor, supplier=data.supplier,
                erasure_confirmation=data.erasure_confirmation)
    await add_event(session, DeviceHandedToSupplier(
        device_id=device_id, supplier=data.supplier,
        erasure_confirmation=data.erasure_confirmation, handed_over_by=actor),
        subject=str(device_id))
    return device


async def remote_wipe(session: AsyncSession, *, actor: str, device_id: uuid.UUID) -> Device:
    """rule U9: a lost device that will not be found is erased remotely."""
    device = await locked_device(session, device_id)
    if device.state != "lost":
        raise RuleViolation(f"Device {device_id} is {device.state}: only a lost device is wiped "
                            "remotely; a returned one is wiped at check-in")
    if device.mdm_enrolment_id is None:
        raise RuleViolation(f"The MDM does not manage device {device_id}: it cannot be wiped")
    await _wipe(device)
    touch(device)
    await audit_device(session, actor, "device.remote-wipe", device, snapshot(device),
                       wipe_command_id=device.wipe_command_id or "")
    return device


async def on_return_requested(session: AsyncSession, event: ReturnRequested) -> None:
    """Remember lifecycle's return case, so the check-in names it in device-returned."""
    device = await DeviceRepository(session).get(event.device_id, for_update=True)
    if device is None or device.open_return_case_id == event.return_case_id:
        return
    holder = holder_of(device)
    if not domain.return_request_applies(holder, person_id=event.person_id,
                                         unit_id=event.unit_id):
        # Already back (the check-in overtook the request), or since issued to someone else.
        log.info("return-requested %s for %s ignored: device %s is held by %s",
                 event.return_case_id, event.person_id or event.unit_id, device.device_id,
                 holder.describe if holder else "nobody")
        return
    device.open_return_case_id = event.return_case_id
    await audit_device(session, SYSTEM, "device.return-requested", device, snapshot(device),
                       return_case_id=str(event.return_case_id), reason=event.reason,
                       due_date=event.due_date.isoformat())


def _text(value: object) -> str | None:
    return None if value is None else str(value)
