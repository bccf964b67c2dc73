"""All SQL of the orders service."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.models import KnownUnit


class KnownUnitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, unit_id: str, *, for_update: bool = False) -> KnownUnit | None:
        query = select(KnownUnit).where(KnownUnit.unit_id == unit_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add(self, unit: KnownUnit) -> None:
        self.session.add(unit)
        await self.session.flush()
