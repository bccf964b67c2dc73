"""SQL of inventory's read model of the organisation (lifecycle's unit events)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
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

    async def insert_new(self, unit: Unit) -> bool:
        """Insert unless another event about the unit did at the same moment; True when
        inserted (a plain insert would fail on the primary key and spend a delivery attempt)."""
        result = await self.session.execute(
            insert(Unit).values(unit_id=unit.unit_id, name=unit.name,
                                parent_unit_id=unit.parent_unit_id, cost_centre=unit.cost_centre,
                                head_person_id=unit.head_person_id,
                                source_event_time=unit.source_event_time)
            .on_conflict_do_nothing().returning(Unit.unit_id))
        return result.first() is not None

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

    async def cost_centres_headed_by(self, person_id: str) -> set[str]:
        """The cost centres of the units `person_id` heads (and below): the statements a head
        reads (rule P2)."""
        units = await self.headed_by(person_id)
        if not units:
            return set()
        rows = await self.session.execute(
            select(Unit.cost_centre).where(Unit.unit_id.in_(units)).distinct())
        return set(rows.scalars())

    async def heads_of(self, unit_ids: Sequence[str]) -> dict[str, str | None]:
        rows = await self.session.execute(
            select(Unit.unit_id, Unit.head_person_id).where(Unit.unit_id.in_(set(unit_ids))))
        return {unit_id: head for unit_id, head in rows}
