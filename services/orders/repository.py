"""SQL of what the orders service owns: catalogue, orderers, orders, idempotency keys.

The two hot paths — placing an order and listing orders — read what they need in one statement
each (`OrderRepository.context`, `OrderRepository.listing`) with SQLAlchemy Core, not the ORM:
every round trip and every ORM object costs, and the portal calls these most.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    false,
    literal,
    null,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy import insert as core_insert
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.models import (
    SCHEMA,
    CatalogueItem,
    IdempotencyKey,
    KnownPerson,
    Order,
    Orderer,
)
from services.orders.read_model_repository import CHILD, PARENT, UNITS, holds_device

ORDERS = cast(Table, Order.__table__)
# Text, because SQLAlchemy does not cache the compiled form of the PostgreSQL dialect's
# INSERT ... ON CONFLICT, and this runs on every POST /v1/orders with an Idempotency-Key.
CLAIM = text(f"INSERT INTO {SCHEMA}.idempotency_keys (caller_id, key, request_hash, order_id) "
             "VALUES (:caller_id, :key, :request_hash, :order_id) "
             "ON CONFLICT DO NOTHING RETURNING order_id")
ORDERERS = cast(Table, Orderer.__table__)
PEOPLE = cast(Table, KnownPerson.__table__)
ITEMS = cast(Table, CatalogueItem.__table__)

# The hot paths' statements are built once: SQLAlchemy then reuses their cache keys and
# compiled forms instead of rebuilding them on every request.
FOR_ORDER = select(ITEMS).where(or_(
    ITEMS.c.item_id.in_(bindparam("ids", expanding=True)),
    and_(ITEMS.c.accessory_type.in_(("screen-protector", "case")), ITEMS.c.retired_at.is_(None))))


def _context(personal: bool) -> Select[Any]:
    me: BindParameter[str] = bindparam("orderer_id")
    recipient: BindParameter[str] = bindparam("recipient")
    appointed = select(ORDERERS.c.active).where(
        ORDERERS.c.unit_id == UNITS.c.unit_id, ORDERERS.c.person_id == me,
        ORDERERS.c.active).exists()
    holds = holds_device(person_id=recipient if personal else None,
                         unit_id=bindparam("unit_id"))
    return (select(UNITS.c.unit_id, UNITS.c.cost_centre, UNITS.c.head_person_id,
                   PARENT.c.head_person_id, appointed, PEOPLE.c.unit_id, PEOPLE.c.employed,
                   holds)
            .outerjoin(PARENT, PARENT.c.unit_id == UNITS.c.parent_unit_id)
            .outerjoin(PEOPLE, PEOPLE.c.person_id == recipient)
            .where(UNITS.c.unit_id == bindparam("unit_id")))


CONTEXT_PERSONAL, CONTEXT_SHARED = _context(True), _context(False)
_ME: BindParameter[str] = bindparam("me")
SCOPE = union_all(
    select(ORDERERS.c.unit_id, null()).where(ORDERERS.c.person_id == _ME, ORDERERS.c.active),
    select(UNITS.c.unit_id, null()).where(UNITS.c.head_person_id == _ME),
    select(CHILD.c.unit_id, CHILD.c.head_person_id)
    .join(PARENT, PARENT.c.unit_id == CHILD.c.parent_unit_id)
    .where(PARENT.c.head_person_id == _ME, CHILD.c.head_person_id.is_not(None),
           CHILD.c.head_person_id != _ME),
)


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


class CatalogueRepository(_Repository):
    async def get(self, item_id: str, *, for_update: bool = False) -> CatalogueItem | None:
        query = (select(CatalogueItem).where(CatalogueItem.item_id == item_id)
                 .execution_options(populate_existing=True))
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def listing(self, *, kind: str | None, tier: str | None,
                      include_retired: bool) -> Sequence[CatalogueItem]:
        query = select(CatalogueItem).order_by(CatalogueItem.kind, CatalogueItem.tier,
                                               CatalogueItem.item_id)
        if kind:
            query = query.where(CatalogueItem.kind == kind)
        if tier:
            query = query.where(CatalogueItem.tier == tier)
        if not include_retired:
            query = query.where(CatalogueItem.retired_at.is_(None))
        return (await self.session.execute(query)).scalars().all()

    async def for_order(self, item_ids: Sequence[str]) -> list[Row[Any]]:
        """The requested items plus every current protector and case (rule U6), in one query."""
        return list(await self.session.execute(FOR_ORDER, {"ids": list(item_ids)}))

    async def add(self, values: dict[str, Any]) -> bool:
        """False when the item id is taken (also by a concurrent request)."""
        result = await self.session.execute(insert(CatalogueItem).values(**values)
                                            .on_conflict_do_nothing()
                                            .returning(CatalogueItem.item_id))
        return result.first() is not None


class OrdererRepository(_Repository):
    async def get(self, unit_id: str, person_id: str, *, for_update: bool = False
                  ) -> Orderer | None:
        query = (select(Orderer).where(Orderer.unit_id == unit_id, Orderer.person_id == person_id)
                 .execution_options(populate_existing=True))
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def is_active(self, unit_id: str, person_id: str) -> bool:
        query = select(Orderer.active).where(Orderer.unit_id == unit_id,
                                             Orderer.person_id == person_id)
        return bool((await self.session.execute(query)).scalar_one_or_none())

    async def of_unit(self, unit_id: str, *, include_revoked: bool) -> Sequence[Orderer]:
        query = select(Orderer).where(Orderer.unit_id == unit_id).order_by(Orderer.person_id)
        if not include_revoked:
            query = query.where(Orderer.active)
        return (await self.session.execute(query)).scalars().all()

    async def units_of(self, person_id: str) -> list[str]:
        query = select(Orderer.unit_id).where(Orderer.person_id == person_id, Orderer.active)
        return list((await self.session.execute(query)).scalars())

    async def add(self, values: dict[str, Any]) -> bool:
        """False when the person was ever appointed for the unit (also concurrently)."""
        result = await self.session.execute(insert(Orderer).values(**values)
                                            .on_conflict_do_nothing()
                                            .returning(Orderer.person_id))
        return result.first() is not None


@dataclass(frozen=True)
class OrderingContext:
    """Everything the rules need to place an order, read in one statement."""

    unit_id: str
    cost_centre: str
    unit_head: str | None
    parent_head: str | None
    appointed: bool  # rule O2
    person_unit: str | None  # rules O2, U8
    person_employed: bool  # rule U7
    holds_device: bool  # rule U5


@dataclass(frozen=True)
class Scope:
    """What one caller may see of the orders: everything, or these units / pairs / own."""

    everything: bool = False
    units: tuple[str, ...] = ()
    escalated: tuple[tuple[str, str], ...] = ()  # (unit, orderer who is its head)
    person_id: str | None = None


@dataclass(frozen=True)
class OrderFilter:
    unit_id: str | None = None
    status: str | None = None
    person_id: str | None = None
    orderer_id: str | None = None


class OrderRepository(_Repository):
    async def get(self, order_id: uuid.UUID, *, for_update: bool = False) -> Order | None:
        query = (select(Order).where(Order.order_id == order_id)
                 .execution_options(populate_existing=True))
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def insert(self, values: dict[str, Any]) -> None:
        await self.session.execute(core_insert(ORDERS), values)

    async def context(self, unit_id: str, orderer_id: str, recipient: str | None
                      ) -> OrderingContext | None:
        statement = CONTEXT_SHARED if recipient is None else CONTEXT_PERSONAL
        row = (await self.session.execute(statement, {
            "unit_id": unit_id, "orderer_id": orderer_id, "recipient": recipient})).first()
        if row is None:
            return None
        return OrderingContext(unit_id=row[0], cost_centre=row[1], unit_head=row[2],
                               parent_head=row[3], appointed=bool(row[4]), person_unit=row[5],
                               person_employed=bool(row[6]), holds_device=bool(row[7]))

    async def scope_of(self, person_id: str) -> Scope:
        """The units one orders for or heads, and the units whose head's own orders one
        decides as head of the parent unit (rule O3) — one statement."""
        units, escalated = set(), set()
        for unit, head in await self.session.execute(SCOPE, {"me": person_id}):
            if head is None:
                units.add(unit)
            else:
                escalated.add((unit, head))
        return Scope(units=tuple(sorted(units)), escalated=tuple(sorted(escalated)),
                     person_id=person_id)

    async def listing(self, scope: Scope, where: OrderFilter,
                      after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Row[Any]]:
        """Newest first, keyset-paginated on (created_at, order_id): stable under inserts.

        Each row also carries its unit's head and the parent unit's head, so that the caller
        can tell who decides a submitted order (rule O3) without another query."""
        query = (select(ORDERS, UNITS.c.head_person_id.label("unit_head"),
                        PARENT.c.head_person_id.label("parent_head"))
                 .outerjoin(UNITS, UNITS.c.unit_id == ORDERS.c.unit_id)
                 .outerjoin(PARENT, PARENT.c.unit_id == UNITS.c.parent_unit_id)
                 .order_by(ORDERS.c.created_at.desc(), ORDERS.c.order_id.desc()))
        if not scope.everything:
            query = query.where(_visible(scope))
        for column, value in ((ORDERS.c.unit_id, where.unit_id), (ORDERS.c.status, where.status),
                              (ORDERS.c.recipient_person_id, where.person_id),
                              (ORDERS.c.orderer_id, where.orderer_id)):
            if value is not None:
                query = query.where(column == value)
        if after is not None:
            created, order_id = after
            query = query.where(tuple_(ORDERS.c.created_at, ORDERS.c.order_id)
                                < tuple_(literal(created), literal(order_id)))
        return list(await self.session.execute(query.limit(limit)))


def _visible(scope: Scope) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    if scope.units:
        clauses.append(ORDERS.c.unit_id.in_(scope.units))
    if scope.escalated:
        clauses.append(tuple_(ORDERS.c.unit_id, ORDERS.c.orderer_id).in_(scope.escalated))
    if scope.person_id is not None:
        clauses.append(ORDERS.c.orderer_id == scope.person_id)
    return or_(*clauses) if clauses else false()


class IdempotencyRepository(_Repository):
    async def claim(self, caller_id: str, key: str, request_hash: str,
                    order_id: uuid.UUID) -> bool:
        """True when this request owns the key. A concurrent holder of the same key makes this
        wait on the unique index until that transaction ends: then False (it committed) or True
        (it rolled back, e.g. a refusal, so this request is evaluated afresh)."""
        result = await self.session.execute(CLAIM, {
            "caller_id": caller_id, "key": key, "request_hash": request_hash,
            "order_id": order_id})
        return result.first() is not None

    async def get(self, caller_id: str, key: str) -> IdempotencyKey | None:
        return await self.session.get(IdempotencyKey, (caller_id, key))
