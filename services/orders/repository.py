"""SQL of what the orders service owns: catalogue, orderers, orders, idempotency keys.

The two hot paths — placing an order and listing orders — have classes of their own on a plain
asyncpg connection (`OrderPlacement`, `OrderListing`) and read what they need in one statement
each (`OrderPlacement.context`, `OrderListing.listing`): every round trip costs, and the portal
calls these most. Through an ORM session each statement cost ≈ 0.3 ms of CPU more, and the
session itself ≈ 16 % of a POST (docs/performance.md). Everything else goes through the session.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
from sqlalchemy import (
    Table,
    select,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.models import (
    SCHEMA,
    CatalogueItem,
    Order,
    Orderer,
)
from shared.db import DriverTransaction, write_rows

ORDERS = cast(Table, Order.__table__)
CLAIM = (f"INSERT INTO {SCHEMA}.idempotency_keys (caller_id, key, request_hash, order_id) "
         "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING order_id")
CLAIMED = (f"SELECT request_hash, order_id FROM {SCHEMA}.idempotency_keys "
           "WHERE caller_id = $1 AND key = $2")
ORDER_COLUMNS = tuple(column.name for column in ORDERS.columns)
INSERT_ORDER = (f"INSERT INTO {SCHEMA}.orders ({', '.join(ORDER_COLUMNS)}) VALUES "
                f"({', '.join(f'${n}' for n in range(1, len(ORDER_COLUMNS) + 1))})")

# The requested items, and the current protectors and cases that fit one of them (rule U6):
# fitting no model in particular, or the model of a requested item.
FOR_ORDER = (f"SELECT * FROM {SCHEMA}.catalogue_items WHERE item_id = ANY($1::text[]) OR "
             "(accessory_type IN ('screen-protector', 'case') AND retired_at IS NULL AND "
             "(coalesce(cardinality(fits_model_ids), 0) = 0 OR fits_model_ids && ARRAY("
             f"SELECT model_id FROM {SCHEMA}.catalogue_items WHERE item_id = ANY($1::text[]) "
             "AND model_id IS NOT NULL)))")


def _context(holder: str) -> str:
    """$1 the unit, $2 the orderer, $3 the recipient (NULL: the unit's own, shared device).

    The next to last column is rule U5: the recipient (or, for a shared order, the unit) holds a
    phone or tablet; `holder` picks whose devices count. A device whose kind orders has not
    learnt yet counts: inventory's own compliance reports catch a SIM in a non-municipal device,
    and this check must not block a holder. The last is the policy orders last learnt (rule
    B5), if any: placing an order reads it every time."""
    return (
        "SELECT u.unit_id, u.cost_centre, u.head_person_id, p.head_person_id, "
        f"EXISTS (SELECT 1 FROM {SCHEMA}.orderers o WHERE o.unit_id = u.unit_id "
        "AND o.person_id = $2 AND o.active), r.unit_id, r.employed, "
        f"EXISTS (SELECT 1 FROM {SCHEMA}.held_devices d WHERE d.held AND {holder} "
        "AND (d.kind IN ('phone', 'tablet') OR d.kind IS NULL)), "
        f"(SELECT policy FROM {SCHEMA}.policy_snapshot) "
        f"FROM {SCHEMA}.known_units u "
        f"LEFT JOIN {SCHEMA}.known_units p ON p.unit_id = u.parent_unit_id "
        f"LEFT JOIN {SCHEMA}.known_people r ON r.person_id = $3::text "
        "WHERE u.unit_id = $1")


CONTEXT_PERSONAL = _context("d.holder_person_id = $3::text")
CONTEXT_SHARED = _context("d.unit_id = $1 AND d.holder_person_id IS NULL")
# Where a person stands in ordering (rule O2, O3), one statement for the listing's scope and
# for GET /v1/me: the units they are an appointed orderer of, the units they head, and the units
# whose head's own orders they decide as head of the parent unit (with that head).
STANDING = (
    f"SELECT unit_id, 'orders-for', NULL FROM {SCHEMA}.orderers "
    "WHERE person_id = $1 AND active "
    f"UNION ALL SELECT unit_id, 'heads', NULL FROM {SCHEMA}.known_units "
    "WHERE head_person_id = $1 "
    f"UNION ALL SELECT c.unit_id, 'decides-for', c.head_person_id FROM {SCHEMA}.known_units c "
    f"JOIN {SCHEMA}.known_units p ON p.unit_id = c.parent_unit_id WHERE p.head_person_id = $1 "
    "AND c.head_person_id IS NOT NULL AND c.head_person_id <> $1")

# The listing passes each order's lines through as the JSON text PostgreSQL stores, instead of
# decoding them into dicts, validating them into models and encoding them again: on a page of 50
# orders that was ≈ 35 % of a GET's CPU (docs/performance.md). It can, because the stored lines
# are always OrderLine.model_dump(mode="json"): every field of the API's OrderLineOut, prices as
# strings (tests/unit/test_orders_schemas.py holds the two models' fields equal). Whether an
# order needs its need approved is domain.is_advanced_phone over the lines, asked of jsonb here.
LISTING = (
    f"SELECT {', '.join(f'o.{c}' for c in ORDER_COLUMNS if c != 'lines')}, "
    "o.lines::text AS lines_json, "
    """o.lines @> '[{"kind": "phone", "tier": "advanced"}]' AS needs_approval_of_need, """
    "u.head_person_id AS unit_head, p.head_person_id AS parent_head "
    f"FROM {SCHEMA}.orders o LEFT JOIN {SCHEMA}.known_units u ON u.unit_id = o.unit_id "
    f"LEFT JOIN {SCHEMA}.known_units p ON p.unit_id = u.parent_unit_id")


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

    async def active_of_person(self, person_id: str) -> Sequence[Orderer]:
        """The person's standing appointments, locked, in a fixed order (no deadlock between
        two HR events about one person)."""
        query = (select(Orderer).where(Orderer.person_id == person_id, Orderer.active)
                 .order_by(Orderer.unit_id).with_for_update()
                 .execution_options(populate_existing=True))
        return (await self.session.execute(query)).scalars().all()

    async def is_active(self, unit_id: str, person_id: str) -> bool:
        query = select(Orderer.active).where(Orderer.unit_id == unit_id,
                                             Orderer.person_id == person_id)
        return bool((await self.session.execute(query)).scalar_one_or_none())

    async def of_unit(self, unit_id: str, *, include_revoked: bool) -> Sequence[Orderer]:
        query = select(Orderer).where(Orderer.unit_id == unit_id).order_by(Orderer.person_id)
        if not include_revoked:
            query = query.where(Orderer.active)
        return (await self.session.execute(query)).scalars().all()

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
    policy: dict[str, Any] | None  # the newest policy-changed's data (rule B5), if any


@dataclass(frozen=True)
class Scope:
    """What one caller may see of the orders: everything, or these units / pairs / own."""

    everything: bool = False
    units: tuple[str, ...] = ()
    escalated: tuple[tuple[str, str], ...] = ()  # (unit, orderer who is its head)
    person_id: str | None = None


@dataclass(frozen=True)
class Standing:
    """Where one person stands in ordering (STANDING)."""

    orders_for: tuple[str, ...]
    heads: tuple[str, ...]
    decides_for: tuple[tuple[str, str], ...]  # (unit, its head, whose own orders one decides)


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


class OrderListing:
    """What a person may see and do, and GET /v1/orders' page: reads on a plain asyncpg
    connection — for the listing a pooled one outside any transaction (shared/runtime.py:
    ReadConnection), whose session's BEGIN and COMMIT cost more CPU than the page's own
    serialization (docs/performance.md)."""

    def __init__(self, db: asyncpg.Connection) -> None:
        self.db = db

    async def standing(self, person_id: str) -> Standing:
        rows = await self.db.fetch(STANDING, person_id)
        return Standing(
            orders_for=tuple(sorted({unit for unit, kind, _ in rows if kind == "orders-for"})),
            heads=tuple(sorted({unit for unit, kind, _ in rows if kind == "heads"})),
            decides_for=tuple(sorted({(unit, head) for unit, kind, head in rows
                                      if kind == "decides-for"})))

    async def scope_of(self, person_id: str) -> Scope:
        """The units one orders for or heads, and the units whose head's own orders one
        decides as head of the parent unit (rule O3)."""
        standing = await self.standing(person_id)
        return Scope(units=tuple(sorted({*standing.orders_for, *standing.heads})),
                     escalated=standing.decides_for, person_id=person_id)

    async def listing(self, scope: Scope, where: OrderFilter,
                      after: tuple[datetime, uuid.UUID] | None, limit: int
                      ) -> list[SimpleNamespace]:
        """Newest first, keyset-paginated on (created_at, order_id): stable under inserts.

        Each row also carries its unit's head and the parent unit's head, so that the caller
        can tell who decides a submitted order (rule O3) without another query. Rows have the
        attribute names of `Order`, but `lines_json` (the lines as JSON text, see LISTING) and
        `needs_approval_of_need` (an advanced-tier phone, rule O4) instead of `lines`."""
        conditions, args = [], []

        def arg(value: Any, cast_to: str = "") -> str:
            args.append(value)
            return f"${len(args)}{cast_to}"

        if not scope.everything:
            visible = []
            if scope.units:
                visible.append(f"o.unit_id = ANY({arg(list(scope.units), '::text[]')})")
            if scope.escalated:
                units, orderers = zip(*scope.escalated, strict=True)
                visible.append(f"(o.unit_id, o.orderer_id) IN (SELECT * FROM unnest("
                               f"{arg(list(units), '::text[]')}, "
                               f"{arg(list(orderers), '::text[]')}))")
            if scope.person_id is not None:
                visible.append(f"o.orderer_id = {arg(scope.person_id)}")
            conditions.append(f"({' OR '.join(visible) or 'false'})")
        for column, value in (("unit_id", where.unit_id), ("status", where.status),
                              ("recipient_person_id", where.person_id),
                              ("orderer_id", where.orderer_id)):
            if value is not None:
                conditions.append(f"o.{column} = {arg(value)}")
        if after is not None:
            created, order_id = after
            conditions.append(f"(o.created_at, o.order_id) < ({arg(created)}, {arg(order_id)})")
        sql = (f"{LISTING} WHERE {' AND '.join(conditions) or 'true'} "
               f"ORDER BY o.created_at DESC, o.order_id DESC LIMIT {arg(limit)}")
        return [SimpleNamespace(**row) for row in await self.db.fetch(sql, *args)]


class OrderPlacement:
    """Placing an order (POST /v1/orders), on the request's asyncpg connection in its
    transaction (shared/db.py: DriverTransaction): the portal's most frequent write sends only
    these statements, so it needs no ORM session (docs/performance.md)."""

    def __init__(self, transaction: DriverTransaction) -> None:
        self.transaction = transaction
        self.db: asyncpg.Connection = transaction.connection

    async def claim(self, caller_id: str, key: str, request_hash: str,
                    order_id: uuid.UUID) -> bool:
        """True when this request owns the key. A concurrent holder of the same key makes this
        wait on the unique index until that transaction ends: then False (it committed) or True
        (it rolled back, e.g. a refusal, so this request is evaluated afresh)."""
        return await self.db.fetchrow(CLAIM, caller_id, key, request_hash, order_id) is not None

    async def claimed(self, caller_id: str, key: str) -> tuple[str, uuid.UUID] | None:
        """The request hash and order of a claimed key."""
        row = await self.db.fetchrow(CLAIMED, caller_id, key)
        return None if row is None else (row[0], row[1])

    async def context(self, unit_id: str, orderer_id: str, recipient: str | None
                      ) -> OrderingContext | None:
        statement = CONTEXT_SHARED if recipient is None else CONTEXT_PERSONAL
        row = await self.db.fetchrow(statement, unit_id, orderer_id, recipient)
        if row is None:
            return None
        return OrderingContext(unit_id=row[0], cost_centre=row[1], unit_head=row[2],
                               parent_head=row[3], appointed=bool(row[4]), person_unit=row[5],
                               person_employed=bool(row[6]), holds_device=bool(row[7]),
                               policy=row[8])

    async def items_for(self, item_ids: Sequence[str]) -> list[SimpleNamespace]:
        """The requested items plus the current protectors and cases that may fit them (rule
        U6), in one query; rows with the attribute names of `CatalogueItem`."""
        return [SimpleNamespace(**row) for row in await self.db.fetch(FOR_ORDER, list(item_ids))]

    async def insert(self, values: dict[str, Any]) -> None:
        """Written with the audit entry and the event, in one statement at the commit
        (shared/db.py: write_rows): nothing in the placement reads the order back. The lines
        go as `values["lines_json"]`, the JSON text of `values["lines"]`."""
        await write_rows(self.transaction, INSERT_ORDER, [tuple(
            values["lines_json"] if name == "lines" else values[name]
            for name in ORDER_COLUMNS)])

    async def placed(self, order_id: uuid.UUID) -> SimpleNamespace | None:
        """An order as placed, for an idempotent replay: a listing row (see LISTING), its
        lines decoded."""
        row = await self.db.fetchrow(f"{LISTING} WHERE o.order_id = $1", order_id)
        if row is None:
            return None
        placed = SimpleNamespace(**row)
        placed.lines = json.loads(placed.lines_json)
        return placed
