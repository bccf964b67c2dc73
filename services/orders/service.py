"""Orders use cases. Never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import domain
from services.orders.models import KnownUnit
from services.orders.repository import KnownUnitRepository
from shared.errors import NotFound
from shared.events.catalogue import UnitRegistered


async def apply_unit(session: AsyncSession, event: UnitRegistered, event_time: datetime) -> None:
    """Upsert the unit projection from unit-registered / unit-changed."""
    units = KnownUnitRepository(session)
    unit = await units.get(event.unit_id, for_update=True)
    if unit is None:
        await units.add(KnownUnit(
            unit_id=event.unit_id, name=event.name, cost_centre=event.cost_centre,
            head_person_id=event.head_person_id, source_event_time=event_time, changes=1,
        ))
        return
    if not domain.is_newer(event_time, unit.source_event_time):
        return
    unit.name, unit.cost_centre = event.name, event.cost_centre
    unit.head_person_id, unit.source_event_time = event.head_person_id, event_time
    unit.changes += 1


async def get_known_unit(session: AsyncSession, unit_id: str) -> KnownUnit:
    unit = await KnownUnitRepository(session).get(unit_id)
    if unit is None:
        raise NotFound(f"Unit {unit_id} is not known to ordering yet")
    return unit
