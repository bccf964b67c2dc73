"""SQL of inventory's read model of the organisation (lifecycle's unit events)."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.models import SCHEMA, Unit


class UnitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, unit_id: str, *, for_update: bool = False) -> Unit | None:
        query = select(Unit).where(Unit.unit_id == unit_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add(self, unit: Unit) -> None:
        self.session.add(unit)
        await self.session.flush()

    async def headed_by(self, person_id: str) -> list[str]:
        """The units `person_id` heads, and every unit below them."""
        rows = await self.session.execute(text(f"""
            WITH RECURSIVE headed AS (
                SELECT unit_id FROM {SCHEMA}.units WHERE head_person_id = :person
                UNION
                SELECT u.unit_id FROM {SCHEMA}.units u JOIN headed h
                    ON u.parent_unit_id = h.unit_id
            ) SELECT unit_id FROM headed"""), {"person": person_id})
        return [row[0] for row in rows]
