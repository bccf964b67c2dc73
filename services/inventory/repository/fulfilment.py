"""SQL of order fulfilment: approved orders, their lines, backorders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.models import DeviceModel, FulfilmentLine, FulfilmentOrder


class FulfilmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_order(self, values: dict[str, Any]) -> bool:
        """Insert the order; False when it is already known (approved before, or cancelled
        before its approval arrived): a redelivered order-approved reserves nothing twice."""
        result = await self.session.execute(
            insert(FulfilmentOrder).values(**values).on_conflict_do_nothing()
            .returning(FulfilmentOrder.order_id))
        return result.first() is not None

    async def order(self, order_id: uuid.UUID, *, for_update: bool = False
                    ) -> FulfilmentOrder | None:
        query = select(FulfilmentOrder).where(FulfilmentOrder.order_id == order_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add_lines(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(FulfilmentLine).values(list(rows)))

    async def lines_of(self, order_id: uuid.UUID) -> Sequence[FulfilmentLine]:
        rows = await self.session.execute(
            select(FulfilmentLine).where(FulfilmentLine.order_id == order_id)
            .order_by(FulfilmentLine.line_no, FulfilmentLine.item_no).with_for_update())
        return rows.scalars().all()

    async def any_waiting(self) -> bool:
        """Whether any line waits for stock (nothing locked)."""
        return bool((await self.session.execute(
            select(exists().where(FulfilmentLine.state == "waiting")))).scalar())

    async def waiting(self, kinds: Sequence[str], *, for_models: Sequence[str] | None = None,
                      first: uuid.UUID | None = None, limit: int = 500
                      ) -> Sequence[FulfilmentLine]:
        """Backordered lines, oldest first (the lines of order `first` before all others); a
        line another transaction is filling is skipped.

        `for_models`: only lines one of these models could fill (its id, its catalogue item, or
        its kind and tier), so lines waiting for a model that never arrives are not rescanned.
        """
        query = select(FulfilmentLine).where(FulfilmentLine.state == "waiting",
                                             FulfilmentLine.kind.in_(kinds))
        if for_models is not None:
            line, model = FulfilmentLine, DeviceModel
            query = query.where(exists().where(
                model.model_id.in_(for_models),
                or_(line.model_id == model.model_id,
                    and_(line.model_id.is_(None),
                         or_(line.catalogue_item_id == model.catalogue_item_id,
                             and_(line.kind == model.kind,
                                  or_(line.tier.is_(None), line.tier == model.tier)))))))
        rows = await self.session.execute(
            query.order_by(FulfilmentLine.order_id.is_distinct_from(first),
                           FulfilmentLine.line_id).limit(limit)
            .with_for_update(of=FulfilmentLine, skip_locked=True))
        return rows.scalars().all()

    async def reserved_line_of(self, device_id: uuid.UUID) -> FulfilmentLine | None:
        rows = await self.session.execute(
            select(FulfilmentLine)
            .where(FulfilmentLine.device_id == device_id, FulfilmentLine.state == "reserved")
            .with_for_update())
        return rows.scalars().first()

    async def line_of_subscription(self, subscription_id: uuid.UUID) -> FulfilmentLine | None:
        rows = await self.session.execute(
            select(FulfilmentLine)
            .where(FulfilmentLine.subscription_id == subscription_id).with_for_update())
        return rows.scalars().first()

    async def set_line(self, line_id: int, **values: Any) -> None:
        await self.session.execute(
            update(FulfilmentLine).where(FulfilmentLine.line_id == line_id).values(**values))
