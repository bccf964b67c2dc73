"""SQL of support (S1–S5): cases, the apps' own support contacts, and repairs (S4)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.models_people import AppSupport, Repair, SupportCase
from shared.errors import Conflict


class SupportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def app(self, app_id: str, *, for_update: bool = False) -> AppSupport | None:
        query = select(AppSupport).where(AppSupport.app_id == app_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def apps(self) -> Sequence[AppSupport]:
        return (await self.session.execute(
            select(AppSupport).order_by(AppSupport.name, AppSupport.app_id))).scalars().all()

    async def add(self, row: AppSupport | SupportCase | Repair) -> None:
        self.session.add(row)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise Conflict("It was changed at the same moment by another request; "
                           "try again") from exc

    async def case(self, case_id: uuid.UUID, *, for_update: bool = False
                   ) -> SupportCase | None:
        query = select(SupportCase).where(SupportCase.case_id == case_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def cases(self, *, person_id: str | None, state: str | None, limit: int
                    ) -> Sequence[SupportCase]:
        query = select(SupportCase)
        if person_id is not None:
            query = query.where(SupportCase.person_id == person_id)
        if state is not None:
            query = query.where(SupportCase.state == state)
        query = query.order_by(SupportCase.opened_at.desc(), SupportCase.case_id).limit(limit)
        return (await self.session.execute(query)).scalars().all()


class RepairRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, repair_id: uuid.UUID, *, for_update: bool = False) -> Repair | None:
        query = select(Repair).where(Repair.repair_id == repair_id)
        if for_update:
            # the row as locked, not as an earlier read of this session left it
            query = query.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def open_of(self, device_id: uuid.UUID) -> Repair | None:
        return (await self.session.execute(
            select(Repair).where(Repair.device_id == device_id, Repair.state == "in-repair"))
        ).scalar_one_or_none()

    async def listing(self, *, state: str | None, limit: int) -> Sequence[Repair]:
        query = select(Repair)
        if state is not None:
            query = query.where(Repair.state == state)
        query = query.order_by(Repair.opened_at.desc(), Repair.repair_id).limit(limit)
        return (await self.session.execute(query)).scalars().all()
