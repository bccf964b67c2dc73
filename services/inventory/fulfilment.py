"""Order fulfilment (rule O3): reserve what an approved order needs, wait for stock when there is
none, and activate subscriptions when IT service hands them over. Never commits.

Idempotent per order: the fulfilment_orders row is written first with ON CONFLICT DO NOTHING, so a
redelivered order-approved (another event id, same order) reserves nothing twice, and an
order-cancelled that overtook its order-approved leaves a tombstone that makes the approval a no-op.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain, ports
from services.inventory.models import Device, FulfilmentLine, FulfilmentOrder, Subscription
from services.inventory.records import SYSTEM, audit_device, snapshot, today, touch
from services.inventory.repository import (
    DeviceRepository,
    FulfilmentRepository,
    HistoryRepository,
    ModelRepository,
    StockMatch,
    TelephonyRepository,
)
from shared.audit import record_audit
from shared.errors import Conflict, NotFound, RuleViolation
from shared.events.catalogue import (
    DeviceIssued,
    DeviceReserved,
    OrderApproved,
    OrderCancelled,
    SubscriptionActivated,
)
from shared.messaging.outbox import add_event

DEVICE_KINDS = ("phone", "tablet")
SUBSCRIPTION_KINDS = ("subscription", "sim")


async def on_order_approved(session: AsyncSession, event: OrderApproved) -> None:
    repo = FulfilmentRepository(session)
    fresh = await repo.record_order({
        "order_id": event.order_id, "state": "approved", "unit_id": event.unit_id,
        "cost_centre": event.cost_centre, "recipient_person_id": event.recipient_person_id,
        "approved_by": event.approved_by})
    if not fresh:
        return
    rows = []
    for line_no, line in enumerate(event.lines, start=1):
        # Accessories and fixed extensions are not kept in the register (docs/inventory.md).
        tracked = line.kind in DEVICE_KINDS + SUBSCRIPTION_KINDS
        scope = line.scope
        rows += [{"order_id": event.order_id, "line_no": line_no, "item_no": item_no,
                  "kind": line.kind, "catalogue_item_id": line.catalogue_item_id,
                  "tier": line.tier, "model_id": line.model_id,
                  "calls": scope.calls if scope else None, "sms": scope.sms if scope else None,
                  "mms": scope.mms if scope else None,
                  "data_gb": scope.data_gb if scope else None,
                  "state": "waiting" if tracked else "not-tracked"}
                 for item_no in range(1, line.quantity + 1)]
    await repo.add_lines(rows)
    order = await repo.order(event.order_id)
    assert order is not None
    for waiting in await repo.lines_of(event.order_id):
        if waiting.state == "waiting":
            await try_reserve(session, order, waiting, from_backorder=False)


async def fill_backorders(session: AsyncSession, *, models: Sequence[str] = (),
                          telephony: bool = False, for_order: uuid.UUID | None = None) -> int:
    """Stock arrived — devices of `models` (a delivery, a restock), or SIMs and numbers
    (`telephony`): fill the waiting lines it can, oldest first, but the lines of the order a
    delivery was bought for (`for_order`) before any other. Returns how many were filled."""
    repo = FulfilmentRepository(session)
    lines = [*(await repo.waiting(DEVICE_KINDS, for_models=sorted(set(models)), first=for_order)
               if models else []),
             *(await repo.waiting(SUBSCRIPTION_KINDS) if telephony else [])]
    filled = 0
    orders: dict[uuid.UUID, FulfilmentOrder | None] = {}
    for line in lines:
        if line.order_id not in orders:
            orders[line.order_id] = await repo.order(line.order_id)
        order = orders[line.order_id]
        if order is not None and order.state == "approved":
            filled += await try_reserve(session, order, line, from_backorder=True)
    return filled


async def reopen_line_of(session: AsyncSession, device_id: uuid.UUID) -> bool:
    """The device reserved for a line is gone (lost): the line waits again, as the sweep's
    reopened lines do, and takes another device in stock now when there is one (rule O3)."""
    repo = FulfilmentRepository(session)
    line = await repo.reserved_line_of(device_id)
    if line is None:
        return False
    line.state, line.device_id = "waiting", None
    await session.flush()
    order = await repo.order(line.order_id)
    if order is None or order.state != "approved":
        return False
    return await try_reserve(session, order, line, from_backorder=True)


async def try_reserve(session: AsyncSession, order: FulfilmentOrder, line: FulfilmentLine, *,
                      from_backorder: bool) -> bool:
    if line.kind in DEVICE_KINDS:
        return await _reserve_device(session, order, line, from_backorder)
    return await _reserve_subscription(session, order, line, from_backorder)


async def _reserve_device(session: AsyncSession, order: FulfilmentOrder, line: FulfilmentLine,
                          from_backorder: bool) -> bool:
    by_catalogue = line.model_id is None and await ModelRepository(
        session).has_catalogue_item(line.catalogue_item_id)
    device = await DeviceRepository(session).find_stock(
        StockMatch(line.model_id, line.catalogue_item_id, line.kind, line.tier),
        order_id=order.order_id, today=today(), by_catalogue=by_catalogue)
    if device is None:
        return False
    before = snapshot(device)
    device.state = domain.transition(device.device_id, device.state, "reserve")
    device.unit_id = order.unit_id
    touch(device)
    line.state, line.device_id = "reserved", device.device_id
    # Flush now: our own row locks do not hide this device from the next line's search.
    await session.flush()
    await audit_device(session, SYSTEM, "device.reserve", device, before,
                       order_id=str(order.order_id), from_backorder=from_backorder)
    await add_event(session, DeviceReserved(
        device_id=device.device_id, order_id=order.order_id, kind=device.kind,  # type: ignore[arg-type]
        model_id=device.model_id, recipient_person_id=order.recipient_person_id,
        unit_id=order.unit_id, from_backorder=from_backorder), subject=str(device.device_id))
    return True


async def _reserve_subscription(session: AsyncSession, order: FulfilmentOrder,
                                line: FulfilmentLine, from_backorder: bool) -> bool:
    telephony = TelephonyRepository(session)
    pair = await telephony.free_sim_and_number()
    if pair is None:
        return False
    sim, number = pair
    subscription = Subscription(
        subscription_id=uuid.uuid4(), order_id=order.order_id, plan=line.catalogue_item_id,
        # rule O3: the scope the head approved; an order without one gets calls, SMS and MMS.
        calls=_or(line.calls, True), sms=_or(line.sms, True), mms=_or(line.mms, True),
        data_gb=line.data_gb or 0, cost_centre=order.cost_centre or "",
        unit_id=order.unit_id or "", holder_person_id=order.recipient_person_id,
        sim_id=sim.sim_id, msisdn=number.msisdn, state="reserved")
    sim.state, number.state = "reserved", "reserved"
    await telephony.add_subscription(subscription)
    line.state, line.subscription_id = "reserved", subscription.subscription_id
    await session.flush()
    await record_audit(session, actor=SYSTEM, action="subscription.reserve",
                       object_type="subscription", object_id=str(subscription.subscription_id),
                       after={"state": "reserved", "order_id": str(order.order_id),
                              "iccid": sim.iccid, "msisdn": number.msisdn})
    await add_event(session, DeviceReserved(
        device_id=sim.sim_id, order_id=order.order_id, kind="sim",
        recipient_person_id=order.recipient_person_id, unit_id=order.unit_id,
        subscription_id=subscription.subscription_id, from_backorder=from_backorder),
        subject=str(sim.sim_id))
    return True


def _or(value: bool | None, default: bool) -> bool:
    return default if value is None else value


async def on_order_cancelled(session: AsyncSession, event: OrderCancelled) -> None:
    """Release what the order held; lines already issued stay issued (return them instead)."""
    repo = FulfilmentRepository(session)
    # The tombstone first: an approval of the order committing at this moment is waited for (the
    # primary key), so the order read next has its lines and reservations. Read first, it would
    # be missing, and what the approval reserved would stay reserved for a cancelled order.
    if await repo.record_order({"order_id": event.order_id, "state": "cancelled"}):
        return  # not approved yet: the tombstone makes its approval a no-op
    order = await repo.order(event.order_id, for_update=True)
    if order is None or order.state == "cancelled":
        return
    order.state = "cancelled"  # flushed with the lines below
    released: list[str] = []
    for line in await repo.lines_of(event.order_id):
        if line.state == "reserved" and line.device_id is not None:
            released += await _release_device(session, line.device_id, event.order_id)
        elif line.state == "reserved" and line.subscription_id is not None:
            await _release_subscription(session, line.subscription_id)
        if line.state in ("waiting", "reserved"):
            line.state = "released"
    await session.flush()
    if released:
        await fill_backorders(session, models=released)


async def _release_device(session: AsyncSession, device_id: uuid.UUID, order_id: uuid.UUID
                          ) -> list[str]:
    """Back to stock; returns its model (for the backorders it may fill), or nothing."""
    device = await DeviceRepository(session).get(device_id, for_update=True)
    if device is None or device.state != "reserved":
        return []
    before = snapshot(device)
    device.state = domain.transition(device_id, device.state, "release")
    device.unit_id = None
    touch(device)
    await audit_device(session, SYSTEM, "device.release", device, before,
                       order_id=str(order_id), cause="orders.order-cancelled")
    return [device.model_id]


async def _release_subscription(session: AsyncSession, subscription_id: uuid.UUID) -> None:
    telephony = TelephonyRepository(session)
    subscription = await telephony.subscription(subscription_id, for_update=True)
    if subscription is None or subscription.state != "reserved":
        return
    subscription.state, subscription.terminated_at = "terminated", datetime.now(UTC)
    sim = await telephony.sim(subscription.sim_id)
    if sim is not None:
        sim.state = "in-stock"
    await telephony.set_number_state(subscription.msisdn, "free")
    await record_audit(session, actor=SYSTEM, action="subscription.release",
                       object_type="subscription", object_id=str(subscription_id),
                       before={"state": "reserved"}, after={"state": "terminated"})


async def activate(session: AsyncSession, subscription: Subscription, *, device: Device | None,
                   actor: str) -> SubscriptionActivated:
    """Switch a reserved subscription on at the operator and record it (caller publishes)."""
    telephony = TelephonyRepository(session)
    sim = await telephony.sim(subscription.sim_id)
    assert sim is not None
    await ports.operator().activate(sim.iccid, subscription.msisdn, calls=subscription.calls,
                                    sms=subscription.sms, mms=subscription.mms,
                                    data_gb=subscription.data_gb)
    subscription.state, subscription.activated_at = "active", datetime.now(UTC)
    subscription.device_id = device.device_id if device else None
    if device is not None:
        subscription.holder_person_id = device.holder_person_id
    sim.state = "active"
    await telephony.set_number_state(subscription.msisdn, "active")
    line = await FulfilmentRepository(session).line_of_subscription(subscription.subscription_id)
    if line is not None:
        line.state = "issued"
    await record_audit(session, actor=actor, action="subscription.activate",
                       object_type="subscription",
                       object_id=str(subscription.subscription_id),
                       before={"state": "reserved"},
                       after={"state": "active", "device_id": _text(subscription.device_id),
                              "holder_person_id": subscription.holder_person_id})
    return activated_event(subscription, sim.iccid)


def activated_event(subscription: Subscription, sim_iccid: str) -> SubscriptionActivated:
    """`subscription-activated` as the subscription stands: also sent again when it moves to
    another device or SIM, so that readers (lifecycle's holdings) follow it."""
    return SubscriptionActivated(
        subscription_id=subscription.subscription_id, phone_number=subscription.msisdn,
        unit_id=subscription.unit_id, holder_person_id=subscription.holder_person_id,
        calls=subscription.calls, sms=subscription.sms, mms=subscription.mms,
        data_gb=subscription.data_gb, order_id=subscription.order_id,
        device_id=subscription.device_id, sim_iccid=sim_iccid, plan=subscription.plan,
        cost_centre=subscription.cost_centre)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


async def activate_alone(session: AsyncSession, *, actor: str, subscription_id: uuid.UUID,
                         device_id: uuid.UUID | None) -> Subscription:
    """A subscription line without a device of its own (a SIM for a phone the holder has)."""
    telephony = TelephonyRepository(session)
    subscription = await telephony.subscription(subscription_id, for_update=True)
    if subscription is None:
        raise NotFound(f"Subscription {subscription_id} is not in the register")
    if subscription.state != "reserved":
        raise Conflict(f"Subscription {subscription_id} is {subscription.state}")
    device = None
    if device_id is not None:
        device = await DeviceRepository(session).get(device_id, for_update=True)
        if device is None or device.state != "issued":
            raise RuleViolation(f"Device {device_id} is not an issued municipal device; a "
                                "municipal SIM goes only into a municipal device (rule U5)")
        if subscription.holder_person_id and device.holder_person_id != \
                subscription.holder_person_id:
            raise RuleViolation(f"Device {device_id} is not held by the subscription's holder "
                                f"{subscription.holder_person_id} (rule U8)")
    activated = await activate(session, subscription, device=device, actor=actor)
    sim = await telephony.sim(subscription.sim_id)
    assert sim is not None
    await add_event(session, activated, subject=str(subscription_id))
    # Orders' fulfilment contract: an order without a phone or tablet is fulfilled by the first
    # device-issued carrying its order id; the SIM is that handed-over item.
    await add_event(session, DeviceIssued(
        device_id=sim.sim_id, order_id=subscription.order_id, kind="sim",
        holder_person_id=subscription.holder_person_id,
        unit_id=subscription.unit_id, issued_by=actor,
        subscription_ids=(subscription.subscription_id,)), subject=str(sim.sim_id))
    return subscription


async def register_sims(session: AsyncSession, *, actor: str, iccids: list[str]
                        ) -> tuple[int, int]:
    cleaned = sorted({domain.check_iccid(i) for i in iccids})
    new = await TelephonyRepository(session).add_sims(
        [{"sim_id": uuid.uuid4(), "iccid": i, "received_by": actor} for i in cleaned])
    await _audit_registered(session, actor, "sim", sorted(new))
    await fill_backorders(session, telephony=True)
    return len(new), len(cleaned) - len(new)


async def register_numbers(session: AsyncSession, *, actor: str, numbers: list[str]
                           ) -> tuple[int, int]:
    cleaned = sorted({domain.check_msisdn(n) for n in numbers})
    new = await TelephonyRepository(session).add_numbers(cleaned)
    await _audit_registered(session, actor, "phone-number", sorted(new))
    await fill_backorders(session, telephony=True)
    return len(new), len(cleaned) - len(new)


async def _audit_registered(session: AsyncSession, actor: str, object_type: str,
                            ids: list[str]) -> None:
    state = "in-stock" if object_type == "sim" else "free"
    await HistoryRepository(session).add_many([
        {"actor": actor, "action": f"{object_type}.register", "object_type": object_type,
         "object_id": object_id, "before": None, "after": {"state": state}}
        for object_id in ids])

