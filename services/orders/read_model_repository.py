"""SQL of orders' read models: units, people and held devices, kept from other services' events.

Every write is an upsert that only a newer event may overwrite, so redelivered and out-of-order
events change nothing (see services/orders/read_models.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.models import HeldDevice, KnownPerson, KnownUnit, OrderDelivery

UNITS = KnownUnit.__table__
PARENT = UNITS.alias("parent")
CHILD = UNITS.alias("child")


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


class KnownUnitRepository(_Repository):
    async def get(self, unit_id: str) -> KnownUnit | None:
        # populate_existing: a consumer batch may have upserted the row since it was loaded.
        return await self.session.get(KnownUnit, unit_id, populate_existing=True)

    async def upsert(self, values: dict[str, Any], event_time: datetime) -> None:
        """Insert, or overwrite only with a newer event (out-of-order and redelivery safe)."""
        statement = insert(KnownUnit).values(**values, source_event_time=event_time, changes=1)
        await self.session.execute(statement.on_conflict_do_update(
            index_elements=[KnownUnit.unit_id],
            set_={**{k: statement.excluded[k] for k in values if k != "unit_id"},
                  "source_event_time": statement.excluded.source_event_time,
                  "updated_at": func.now(), "changes": KnownUnit.changes + 1},
            where=KnownUnit.source_event_time < statement.excluded.source_event_time,
        ))

    async def heads(self, unit_ids: Sequence[str]) -> dict[str, tuple[str | None, str | None]]:
        """unit -> (its head, its parent's head), for deciding who approves (rule O3)."""
        query = (select(CHILD.c.unit_id, CHILD.c.head_person_id, PARENT.c.head_person_id)
                 .outerjoin(PARENT, PARENT.c.unit_id == CHILD.c.parent_unit_id)
                 .where(CHILD.c.unit_id.in_(unit_ids)))
        return {row[0]: (row[1], row[2]) for row in await self.session.execute(query)}


class PeopleRepository(_Repository):
    async def get(self, person_id: str, *, for_update: bool = False) -> KnownPerson | None:
        return await self.session.get(KnownPerson, person_id, populate_existing=True,
                                      with_for_update=for_update)

    async def upsert(self, person_id: str, unit_id: str, employed: bool,
                     event_time: datetime) -> None:
        statement = insert(KnownPerson).values(person_id=person_id, unit_id=unit_id,
                                               employed=employed, source_event_time=event_time)
        await self.session.execute(statement.on_conflict_do_update(
            index_elements=[KnownPerson.person_id],
            set_={"unit_id": unit_id, "employed": employed, "source_event_time": event_time},
            where=KnownPerson.source_event_time < statement.excluded.source_event_time,
        ))


class HeldDeviceRepository(_Repository):
    async def learn_kind(self, device_id: uuid.UUID, kind: str) -> None:
        statement = insert(HeldDevice).values(device_id=device_id, kind=kind, held=False)
        await self.session.execute(statement.on_conflict_do_update(
            index_elements=[HeldDevice.device_id], set_={"kind": kind}))

    async def set_holding(self, device_id: uuid.UUID, *, held: bool, person_id: str | None,
                          unit_id: str | None, kind: str | None, event_time: datetime) -> None:
        values = {"holder_person_id": person_id, "unit_id": unit_id, "held": held,
                  "holding_event_time": event_time}
        statement = insert(HeldDevice).values(device_id=device_id, kind=kind, **values)
        await self.session.execute(statement.on_conflict_do_update(
            index_elements=[HeldDevice.device_id],
            set_={**values, "kind": func.coalesce(statement.excluded.kind, HeldDevice.kind)},
            where=or_(HeldDevice.holding_event_time.is_(None),
                      HeldDevice.holding_event_time < statement.excluded.holding_event_time),
        ))

    async def record_delivery(self, order_id: uuid.UUID, device_id: uuid.UUID,
                              issued_at: datetime, subscription_ids: Sequence[uuid.UUID] = ()
                              ) -> None:
        await self.session.execute(insert(OrderDelivery).values(
            order_id=order_id, device_id=device_id, issued_at=issued_at,
            subscription_ids=list(subscription_ids),
        ).on_conflict_do_nothing())

    async def deliveries(self, order_id: uuid.UUID
                         ) -> list[tuple[uuid.UUID, str | None, list[uuid.UUID]]]:
        """(device id, its kind if known, the subscriptions activated with it), in order."""
        query = (select(OrderDelivery.device_id, HeldDevice.kind, OrderDelivery.subscription_ids)
                 .outerjoin(HeldDevice, HeldDevice.device_id == OrderDelivery.device_id)
                 .where(OrderDelivery.order_id == order_id)
                 .order_by(OrderDelivery.issued_at, OrderDelivery.device_id))
        return [(row[0], row[1], list(row[2] or ())) for row in await self.session.execute(query)]

