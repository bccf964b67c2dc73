"""Lifecycle use cases: load, apply the rules, save, add the events. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle import domain
from services.lifecycle.models import Unit
from services.lifecycle.repository import UnitRepository
from services.lifecycle.schemas import UnitCreate, UnitIn
from shared.audit import record_audit
from shared.auth import User
from shared.errors import Conflict, NotFound
from shared.events.catalogue import UnitChanged, UnitRegistered
from shared.messaging.outbox import add_event

UNIT_FIELDS = ("unit_id", "name", "administration", "parent_unit_id", "cost_centre",
               "head_person_id")


def _snapshot(unit: Unit) -> dict[str, Any]:
    return {name: getattr(unit, name) for name in UNIT_FIELDS}


async def register_unit(session: AsyncSession, *, actor: User, data: UnitCreate) -> Unit:
    units = UnitRepository(session)
    if await units.exists(data.unit_id):
        raise Conflict(f"Unit {data.unit_id} is already registered")
    parent_exists = bool(data.parent_unit_id) and await units.exists(data.parent_unit_id or "")
    domain.check_parent(data.unit_id, data.parent_unit_id, parent_exists)
    unit = Unit(**data.model_dump(), version=1)
    await units.add(unit)
    after = _snapshot(unit)
    await record_audit(session, actor=actor.person_id, action="unit.register",
                       object_type="unit", object_id=unit.unit_id, after=after)
    await add_event(session, UnitRegistered(**after), subject=unit.unit_id)
    return unit


async def change_unit(session: AsyncSession, *, actor: User, unit_id: str, data: UnitIn) -> Unit:
    units = UnitRepository(session)
    unit = await units.get(unit_id, for_update=True)
    if unit is None:
        raise NotFound(f"Unit {unit_id} is not registered")
    parent_exists = bool(data.parent_unit_id) and await units.exists(data.parent_unit_id or "")
    domain.check_parent(unit_id, data.parent_unit_id, parent_exists)
    before = _snapshot(unit)
    for name, value in data.model_dump().items():
        setattr(unit, name, value)
    after = _snapshot(unit)
    if after == before:
        return unit  # nothing changed: no event, no audit entry
    unit.version += 1
    unit.updated_at = datetime.now(UTC)
    await session.flush()
    await record_audit(session, actor=actor.person_id, action="unit.change",
                       object_type="unit", object_id=unit_id, before=before, after=after)
    await add_event(session, UnitChanged(**after), subject=unit_id)
    return unit


async def get_unit(session: AsyncSession, unit_id: str) -> Unit:
    unit = await UnitRepository(session).get(unit_id)
    if unit is None:
        raise NotFound(f"Unit {unit_id} is not registered")
    return unit
