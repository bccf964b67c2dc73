"""SQL of the versioned policy (rules B5, R1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle.models import PolicyChange, Unit


@dataclass(frozen=True)
class UnitPlace:
    """Where a unit sits: what its effective policy inherits from."""

    unit_id: str
    administration: str
    parent_unit_id: str | None


class PolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def municipal(self) -> PolicyChange:
        query = (select(PolicyChange).where(PolicyChange.scope == "municipality")
                 .order_by(PolicyChange.policy_version.desc()).limit(1))
        change = (await self.session.execute(query)).scalar_one_or_none()
        assert change is not None, "migration lifecycle_0003 seeds the municipal policy"
        return change

    async def latest_version(self) -> int:
        query = select(func.max(PolicyChange.policy_version))
        return (await self.session.execute(query)).scalar_one() or 0

    async def current_local(self) -> Sequence[PolicyChange]:
        """The newest version of every administration's and unit's local rules."""
        query = (select(PolicyChange).where(PolicyChange.scope != "municipality")
                 .distinct(PolicyChange.scope, PolicyChange.scope_id)
                 .order_by(PolicyChange.scope, PolicyChange.scope_id,
                           PolicyChange.policy_version.desc()))
        return (await self.session.execute(query)).scalars().all()

    async def history(self, *, scope: str | None, scope_id: str | None, limit: int,
                      offset: int) -> Sequence[PolicyChange]:
        query = select(PolicyChange).order_by(PolicyChange.policy_version.desc())
        if scope:
            query = query.where(PolicyChange.scope == scope)
        if scope_id:
            query = query.where(PolicyChange.scope_id == scope_id)
        return (await self.session.execute(query.limit(limit).offset(offset))).scalars().all()

    async def add(self, change: PolicyChange) -> None:
        self.session.add(change)
        await self.session.flush()

    async def place_of(self, unit_id: str) -> UnitPlace | None:
        query = select(Unit.unit_id, Unit.administration, Unit.parent_unit_id).where(
            Unit.unit_id == unit_id)
        row = (await self.session.execute(query)).first()
        return UnitPlace(row[0], row[1], row[2]) if row else None

    async def places(self) -> dict[str, UnitPlace]:
        """Every unit's place: for publishing the effective policy of every local scope."""
        query = select(Unit.unit_id, Unit.administration, Unit.parent_unit_id)
        return {r[0]: UnitPlace(r[0], r[1], r[2]) for r in (await self.session.execute(query))}

    async def administration_exists(self, administration: str) -> bool:
        query = select(Unit.unit_id).where(Unit.administration == administration).limit(1)
        return (await self.session.execute(query)).first() is not None
