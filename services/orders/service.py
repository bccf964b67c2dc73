"""Order use cases: submit, decide, cancel, fulfil, read. Never commits.

Each loads what the rules need, lets `domain` decide, then saves the change, its audit entry and
its event in the caller's one transaction.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import asyncpg
from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import domain, policy
from services.orders.catalogue import to_domain
from services.orders.models import Order
from services.orders.read_model_repository import HeldDeviceRepository, KnownUnitRepository
from services.orders.repository import (
    OrdererRepository,
    OrderFilter,
    OrderListing,
    OrderPlacement,
    OrderRepository,
    Scope,
)
from services.orders.schemas import Approval, Cancellation, OrderCreate, Rejection
from shared.audit import record_audit
from shared.auth import User
from shared.db import DriverTransaction
from shared.errors import Conflict, Forbidden, NotFound, RuleViolation
from shared.events.catalogue import (
    OrderApproved,
    OrderCancelled,
    OrderFulfilled,
    OrderLine,
    OrderRejected,
    OrderSubmitted,
)
from shared.messaging.outbox import add_event

SEE_ALL = ("it-service", "auditor")


@dataclass(frozen=True)
class OrderView:
    # An Order, or a row of the orders table (just placed, or listed): the same attribute names.
    order: Any
    approver: str | None  # who decides while it is submitted (rule O3)


# --- submit ------------------------------------------------------------------------------------


def request_hash(data: OrderCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def submit(db: DriverTransaction, *, actor: User, data: OrderCreate,
                 idempotency_key: str | None) -> tuple[OrderView, bool]:
    """Place an order; with an Idempotency-Key the same key gives the same order (False).

    On a bare driver transaction: every statement of this path is SQL text to asyncpg, so the
    ORM session's own cost would be pure overhead (shared/db.py: DriverTransaction)."""
    placement = OrderPlacement(db)
    order_id = uuid.uuid4()
    if idempotency_key is not None:
        fingerprint = request_hash(data)
        if not await placement.claim(actor.person_id, idempotency_key, fingerprint, order_id):
            return await _replay(placement, actor, idempotency_key, fingerprint), False
    return await _place(db, placement, actor, data, order_id), True


async def _replay(placement: OrderPlacement, actor: User, key: str, fingerprint: str
                  ) -> OrderView:
    claimed = await placement.claimed(actor.person_id, key)
    assert claimed is not None  # claim() lost to a committed holder of the key
    claimed_hash, order_id = claimed
    if claimed_hash != fingerprint:
        raise Conflict("This Idempotency-Key was already used for a different order; use a new "
                       "key for a new order.", order_id=str(order_id))
    order = await placement.placed(order_id)
    assert order is not None
    return _listed_view(order)


async def _place(db: DriverTransaction, placement: OrderPlacement, actor: User,
                 data: OrderCreate, order_id: uuid.UUID) -> OrderView:
    recipient = data.recipient_person_id
    context = await placement.context(data.unit_id, actor.person_id, recipient)
    if context is None:
        raise RuleViolation(f"Unit {data.unit_id} is not known to ordering; the order's cost "
                            "centre is its unit's (rule O2).", rule="O2")
    domain.check_orderer(context.unit_id, context.appointed)
    requested = [domain.Requested(ln.catalogue_item_id, ln.quantity, ln.port_in_number)
                 for ln in data.lines]
    domain.check_no_port_in(requested)
    domain.check_recipient(context.unit_id, recipient, context.person_unit,
                           context.person_employed)
    items = [to_domain(i) for i in await placement.items_for([r.item_id for r in requested])]
    lines = domain.resolve(requested, {i.item_id: i for i in items})
    domain.check_justification(lines, data.justification)
    await policy.check_order(db, context.policy, context.unit_id, lines,  # rule B5
                             data.justification)
    lines = domain.with_protection(lines, [i for i in items if i.kind == "accessory"])
    if any(line.item.kind == "subscription" for line in lines):
        domain.check_sim_has_device(lines, context.holds_device, recipient or context.unit_id)
    order = await _save(db, placement, actor, data, order_id, context.cost_centre, lines)
    return OrderView(order, domain.approver_for(actor.person_id, context.unit_head,
                                                context.parent_head))


async def _save(db: DriverTransaction, placement: OrderPlacement, actor: User,
                data: OrderCreate, order_id: uuid.UUID, cost_centre: str,
                lines: list[domain.Line]) -> SimpleNamespace:
    one_time, monthly = domain.totals(lines)
    event_lines = tuple(_event_line(line) for line in lines)
    now = datetime.now(UTC)
    stored_lines = [ln.model_dump(mode="json") for ln in event_lines]
    values: dict[str, Any] = {
        "order_id": order_id, "unit_id": data.unit_id, "cost_centre": cost_centre,
        "orderer_id": actor.person_id, "recipient_person_id": data.recipient_person_id,
        "status": "submitted", "lines": stored_lines,
        "lines_json": to_json(stored_lines).decode(),  # stored, and answered (order_json)
        "justification": data.justification or None, "note": data.note or None,
        "one_time_total_sek": one_time, "monthly_total_sek": monthly,
        "devices_expected": domain.devices_expected(lines), "need_approved": None,
        "decided_by": None, "decided_at": None, "decision_note": None, "fulfilled_at": None,
        "created_at": now, "updated_at": now,
    }
    await placement.insert(values)
    # The inserted row, with the attribute names of Order but not one: building an ORM object
    # (instance state, instrumented attributes) for a row that is never loaded again cost ≈ 3 %
    # of a POST's CPU (docs/performance.md).
    order = SimpleNamespace(**values)
    await record_audit(db, actor=actor.person_id, action="order.submit",
                       object_type="order", object_id=str(order_id), after=_snapshot(order))
    await add_event(db, OrderSubmitted(
        order_id=order_id, unit_id=order.unit_id, cost_centre=cost_centre,
        orderer_id=actor.person_id, recipient_person_id=order.recipient_person_id,
        lines=event_lines, justification=order.justification,
        one_time_total_sek=one_time, monthly_total_sek=monthly,
    ), subject=str(order_id))
    return order


def _event_line(line: domain.Line) -> OrderLine:
    item = line.item
    return OrderLine(
        catalogue_item_id=item.item_id, kind=item.kind,  # type: ignore[arg-type]
        tier=item.tier, quantity=line.quantity,  # type: ignore[arg-type]
        name=item.name, model_id=item.model_id, accessory_type=item.accessory_type,
        scope=item.scope, one_time_price_sek=item.one_time_price_sek,
        monthly_price_sek=item.monthly_price_sek,
        added_for_rule=line.added_for_rule,  # type: ignore[arg-type]
    )


def _snapshot(order: Order | SimpleNamespace) -> dict[str, Any]:
    return {"status": order.status, "unit_id": order.unit_id, "cost_centre": order.cost_centre,
            "orderer_id": order.orderer_id, "recipient_person_id": order.recipient_person_id,
            "lines": order.lines, "justification": order.justification,
            "one_time_total_sek": format(order.one_time_total_sek, ".2f"),
            "monthly_total_sek": format(order.monthly_total_sek, ".2f"),
            "need_approved": order.need_approved, "decided_by": order.decided_by,
            "decision_note": order.decision_note}


# --- decide and cancel (rule O3, O4) -----------------------------------------------------------


async def _approver(session: AsyncSession, order: Order) -> str | None:
    heads = await KnownUnitRepository(session).heads([order.unit_id])
    unit_head, parent_head = heads.get(order.unit_id, (None, None))
    return domain.approver_for(order.orderer_id, unit_head, parent_head)


async def _pending_decision(session: AsyncSession, actor: User, order_id: uuid.UUID,
                            action: str) -> Order:
    order = await _locked(session, order_id)
    approver = await _approver(session, order)
    domain.check_approver(order.unit_id, approver, actor.person_id, order.orderer_id)
    domain.check_pending(order.status, action)
    return order


async def approve(session: AsyncSession, *, actor: User, order_id: uuid.UUID,
                  data: Approval) -> OrderView:
    order = await _pending_decision(session, actor, order_id, "approved")
    lines = tuple(OrderLine.model_validate(line) for line in order.lines)
    advanced = any(domain.is_advanced_phone(ln.kind, ln.tier) for ln in lines)
    domain.check_need_approved(advanced, data.approve_need, order.justification)
    before = _decide(order, "approved", actor, data.comment)
    order.need_approved = True if advanced else None
    await _record(session, actor, order, before, "order.approve")
    await add_event(session, OrderApproved(
        order_id=order.order_id, unit_id=order.unit_id, cost_centre=order.cost_centre,
        recipient_person_id=order.recipient_person_id, lines=lines,
        approved_by=actor.person_id, orderer_id=order.orderer_id,
        justification=order.justification, need_approved=order.need_approved,
        one_time_total_sek=order.one_time_total_sek,
        monthly_total_sek=order.monthly_total_sek,
    ), subject=str(order.order_id))
    if domain.nothing_to_issue(order.devices_expected, domain.subscriptions_expected(order.lines)):
        await _fulfil(session, order, actor.person_id, datetime.now(UTC))
    return OrderView(order, None)


async def reject(session: AsyncSession, *, actor: User, order_id: uuid.UUID,
                 data: Rejection) -> OrderView:
    order = await _pending_decision(session, actor, order_id, "rejected")
    before = _decide(order, "rejected", actor, data.reason)
    await _record(session, actor, order, before, "order.reject")
    await add_event(session, OrderRejected(order_id=order.order_id, rejected_by=actor.person_id,
                                           reason=data.reason, unit_id=order.unit_id),
                    subject=str(order.order_id))
    return OrderView(order, None)


async def cancel(session: AsyncSession, *, actor: User, order_id: uuid.UUID,
                 data: Cancellation) -> OrderView:
    order = await _locked(session, order_id)
    domain.check_canceller(actor.person_id, order.orderer_id)
    domain.check_pending(order.status, "cancelled")
    before = _decide(order, "cancelled", actor, data.reason or None)
    await _record(session, actor, order, before, "order.cancel")
    await add_event(session, OrderCancelled(order_id=order.order_id,
                                            cancelled_by=actor.person_id, reason=data.reason,
                                            unit_id=order.unit_id), subject=str(order.order_id))
    return OrderView(order, None)


async def _locked(session: AsyncSession, order_id: uuid.UUID) -> Order:
    order = await OrderRepository(session).get(order_id, for_update=True)
    if order is None:
        raise NotFound(f"Order {order_id} does not exist")
    return order


def _decide(order: Order, status: str, actor: User, note: str | None) -> dict[str, Any]:
    before = _snapshot(order)
    now = datetime.now(UTC)
    order.status, order.decided_by, order.decided_at = status, actor.person_id, now
    order.decision_note, order.updated_at = note, now
    return before


async def _record(session: AsyncSession, actor: User, order: Order, before: dict[str, Any],
                  action: str) -> None:
    await session.flush()
    await record_audit(session, actor=actor.person_id, action=action, object_type="order",
                       object_id=str(order.order_id), before=before, after=_snapshot(order))


# --- fulfilment, from inventory's device-issued ------------------------------------------------


async def record_delivery(session: AsyncSession, *, order_id: uuid.UUID,
                          device_id: uuid.UUID, issued_by: str, issued_at: datetime,
                          subscription_ids: Sequence[uuid.UUID] = ()) -> None:
    """A device or SIM was issued against the order; when every phone and tablet is issued and
    every subscription activated, it is fulfilled.

    Idempotent: a delivery is recorded once, and an order is fulfilled once."""
    devices = HeldDeviceRepository(session)
    await devices.record_delivery(order_id, device_id, issued_at, subscription_ids)
    order = await OrderRepository(session).get(order_id, for_update=True)
    if order is None or order.status != "approved":
        return  # unknown to orders, or not waiting for devices: nothing to fulfil
    delivered = await devices.deliveries(order_id)
    counted = domain.count_delivered((kind, ids) for _, kind, ids in delivered)
    if not domain.is_fulfilled(order.devices_expected,
                               domain.subscriptions_expected(order.lines), counted):
        return
    await _fulfil(session, order, issued_by, issued_at,
                  device_ids=tuple(d for d, _, _ in delivered),
                  subscription_ids=tuple(sorted(counted.subscription_ids, key=str)))


async def _fulfil(session: AsyncSession, order: Order, actor: str, at: datetime, *,
                  device_ids: tuple[uuid.UUID, ...] = (),
                  subscription_ids: tuple[uuid.UUID, ...] = ()) -> None:
    before = _snapshot(order)
    order.status, order.fulfilled_at, order.updated_at = "fulfilled", at, datetime.now(UTC)
    await session.flush()
    await record_audit(session, actor=actor, action="order.fulfil", object_type="order",
                       object_id=str(order.order_id), before=before,
                       after=_snapshot(order) | {"device_ids": [str(d) for d in device_ids]})
    await add_event(session, OrderFulfilled(order_id=order.order_id, unit_id=order.unit_id,
                                            device_ids=device_ids,
                                            subscription_ids=subscription_ids),
                    subject=str(order.order_id))


# --- read, with object-level visibility --------------------------------------------------------


async def view(session: AsyncSession, order: Order) -> OrderView:
    approver = await _approver(session, order) if order.status == "submitted" else None
    return OrderView(order, approver)


async def get_order(session: AsyncSession, *, actor: User, order_id: uuid.UUID) -> OrderView:
    order = await OrderRepository(session).get(order_id)
    if order is None:
        raise NotFound(f"Order {order_id} does not exist")
    result = await view(session, order)
    if not await _may_see(session, actor, order, result.approver):
        raise Forbidden("You may see the orders of units you order for or head, and the ones "
                        "you placed.")
    return result


async def _may_see(session: AsyncSession, actor: User, order: Order,
                   approver: str | None) -> bool:
    me = actor.person_id
    # The decider keeps seeing what they decided: the head of a parent unit decides on its
    # child unit's head's orders (rule O3) without heading the order's unit.
    if actor.has_any(*SEE_ALL) or me in (order.orderer_id, approver, order.decided_by):
        return True
    unit = await KnownUnitRepository(session).get(order.unit_id)
    if unit is not None and unit.head_person_id == me:
        return True
    return await OrdererRepository(session).is_active(order.unit_id, me)


async def list_orders(db: asyncpg.Connection, *, actor: User, where: OrderFilter,
                      cursor: str | None, limit: int) -> tuple[list[OrderView], str | None]:
    """A page of what the caller may see; reads only, on a plain connection (no transaction:
    the scope and the page are each read as committed when their statement starts)."""
    orders = OrderListing(db)
    scope = (Scope(everything=True) if actor.has_any(*SEE_ALL)
             else await orders.scope_of(actor.person_id))
    rows = await orders.listing(scope, where, decode_cursor(cursor), limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return [_listed_view(row) for row in page], encode_cursor(page[-1]) if more else None


def _listed_view(row: Any) -> OrderView:
    """A row of repository.LISTING (its unit's and parent unit's heads joined): who decides it
    while it is submitted (rule O3)."""
    return OrderView(row, domain.approver_for(row.orderer_id, row.unit_head, row.parent_head)
                     if row.status == "submitted" else None)


def encode_cursor(order: Any) -> str:
    raw = f"{order.created_at.isoformat()}|{order.order_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_text, order_id = raw.split("|")
        created = datetime.fromisoformat(created_text)
        # Ours are aware and recent; a crafted one in year 1 with an offset overflowed when
        # converted to UTC for the query (a 500).
        if created.tzinfo is None or not 2000 <= created.year <= 9000:
            raise ValueError(created_text)
        return created, uuid.UUID(order_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise domain.InvalidRequest("The cursor is not valid; start again without one.") from exc

