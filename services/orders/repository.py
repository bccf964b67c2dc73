"""SQL of what the orders service owns: catalogue, orderers, orders, idempotency keys.

The two hot paths — placing an order and listing orders — read what they need in one statement
each (`OrderRepository.context`, `OrderRepository.listing`): every round trip costs, and the
portal calls these most. Placing an order sends its statements straight to asyncpg in the
request's transaction (shared/db.py: `driver`), as SQL text: through the session each cost
≈ 0.3 ms of CPU more, which was most of a POST's time (docs/performance.md).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Row,
    Table,
    bindparam,
    false,
    literal,
    null,
    or_,
    select,
    tuple_,
    union_all,
)
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
from services.orders.read_model_repository import CHILD, PARENT, UNITS
from shared.db import driver

ORDERS = cast(Table, Order.__table__)
CLAIM = (f"INSERT INTO {SCHEMA}.idempotency_keys (caller_id, key, request_hash, order_id) "
         "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING order_id")
ORDER_COLUMNS = tuple(column.name for column in ORDERS.columns)
INSERT_ORDER = (f"INSERT INTO {SCHEMA}.orders ({', '.join(ORDER_COLUMNS)}) VALUES "
                f"({', '.join(f'${n}' for n in range(1, len(ORDER_COLUMNS) + 1))})")
ORDERERS = cast(Table, Orderer.__table__)
PEOPLE = cast(Table, KnownPerson.__table__)
ITEMS = cast(Table, CatalogueItem.__table__)

FOR_ORDER = (f"SELECT * FROM {SCHEMA}.catalogue_items WHERE item_id = ANY($1::text[]) OR "
             "(accessory_type IN ('screen-protector', 'case') AND retired_at IS NULL)")


def _context(holder: str) -> str:
    """$1 the unit, $2 the orderer, $3 the recipient (NULL: the unit's own, shared device).

    `holder` picks the devices that count for rule U5 (read_model_repository.holds_device)."""
    return (
        "SELECT u.unit_id, u.cost_centre, u.head_person_id, p.head_person_id, "
        f"EXISTS (SELECT 1 FROM {SCHEMA}.orderers o WHERE o.unit_id = u.unit_id "
        "AND o.person_id = $2 AND o.active), r.unit_id, r.employed, "
        f"EXISTS (SELECT 1 FROM {SCHEMA}.held_devices d WHERE d.held AND {holder} "
        "AND (d.kind IN ('phone', 'tablet') OR d.kind IS NULL)) "
        f"FROM {SCHEMA}.known_units u "
        f"LEFT JOIN {SCHEMA}.known_units p ON p.unit_id = u.parent_unit_id "
        f"LEFT JOIN {SCHEMA}.known_people r ON r.person_id = $3::text "
        "WHERE u.unit_id = $1")


CONTEXT_PERSONAL = _context("d.holder_person_id = $3::text")
CONTEXT_SHARED = _context("d.unit_id = $1 AND d.holder_person_id IS NULL")
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

    async def for_order(self, item_ids: Sequence[str]) -> list[SimpleNamespace]:
        """The requested items plus every current protector and case (rule U6), in one query;
        rows with the attribute names of `CatalogueItem`."""
        rows = await (await driver(self.session)).fetch(FOR_ORDER, list(item_ids))
        return [SimpleNamespace(**row) for row in rows]

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
        await (await driver(self.session)).execute(INSERT_ORDER, *(
            json.dumps(values["lines"]) if name == "lines" else values[name]
            for name in ORDER_COLUMNS))

    async def context(self, unit_id: str, orderer_id: str, recipient: str | None
                      ) -> OrderingContext | None:
        statement = CONTEXT_SHARED if recipient is None else CONTEXT_PERSONAL
        row = await (await driver(self.session)).fetchrow(statement, unit_id, orderer_id,
                                                          recipient)
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
        row = await (await driver(self.session)).fetchrow(CLAIM, caller_id, key, request_hash,
                                                          order_id)
        return row is not None

    async def get(self, caller_id: str, key: str) -> IdempotencyKey | None:
        return await self.session.get(IdempotencyKey, (caller_id, key))
