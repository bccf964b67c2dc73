"""All SQL of the lifecycle service."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle.models import Unit


class UnitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, unit_id: str, *, for_update: bool = False) -> Unit | None:
        query = select(Unit).where(Unit.unit_id == unit_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def exists(self, unit_id: str) -> bool:
        return await self.get(unit_id) is not None

    async def listing(self, *, administration: str | None, limit: int, offset: int
                      ) -> Sequence[Unit]:
        query = select(Unit).order_by(Unit.unit_id).limit(limit).offset(offset)
        if administration:
            query = query.where(Unit.administration == administration)
        return (await self.session.execute(query)).scalars().all()

    async def add(self, unit: Unit) -> None:
        self.session.add(unit)
        await self.session.flush()
