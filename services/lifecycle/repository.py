"""All SQL of the lifecycle service."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    Uuid,
    and_,
    column,
    func,
    or_,
    select,
    text,
    true,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle.models import (
    Holding,
    HrEvent,
    LossCase,
    Person,
    ReturnCase,
    ReturnEscalation,
    Unit,
)
from shared.db import transaction_lock, try_transaction_lock


async def lock(session: AsyncSession, kind: str, key: object) -> None:
    """Serialise work on one person or device across requests, consumers and replicas.

    Order, wherever both are taken: device before person. HR events take only the person, so a
    device-issued and an employment-ended for the same person can never both miss each other.
    """
    await transaction_lock(session, f"lifecycle:{kind}:{key}")


async def try_lock(session: AsyncSession, name: str) -> bool:
    return await try_transaction_lock(session, f"lifecycle:{name}")


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

    async def head_of(self, unit_id: str | None) -> str | None:
        if unit_id is None:
            return None
        query = select(Unit.head_person_id).where(Unit.unit_id == unit_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def listing(self, *, administration: str | None, limit: int, offset: int
                      ) -> Sequence[Unit]:
        query = select(Unit).order_by(Unit.unit_id).limit(limit).offset(offset)
        if administration:
            query = query.where(Unit.administration == administration)
        return (await self.session.execute(query)).scalars().all()

    async def add(self, unit: Unit) -> None:
        self.session.add(unit)
        await self.session.flush()


class PersonRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, person_id: str | None) -> Person | None:
        if person_id is None:
            return None
        return await self.session.get(Person, person_id, populate_existing=True)

    async def managers_of(self, person_id: str | None) -> set[str]:
        """The person's nearest manager and the head of the unit they work in."""
        if person_id is None:
            return set()
        query = (select(Person.nearest_manager_id, Unit.head_person_id)
                 .outerjoin(Unit, Unit.unit_id == Person.unit_id)
                 .where(Person.person_id == person_id))
        row = (await self.session.execute(query)).first()
        return {m for m in row if m} if row else set()

    async def add(self, person: Person) -> None:
        self.session.add(person)
        await self.session.flush()


class HrEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, *, webhook_id: str, event_type: str, subject: str, hr_time: datetime,
                    payload: dict[str, Any]) -> bool:
        """Record the delivery; False when this webhook-id was applied before.

        A concurrent delivery of the same id waits here for the first one's commit, then finds
        it: that is what makes 100 simultaneous duplicates one effect.
        """
        result = await self.session.execute(
            insert(HrEvent)
            .values(webhook_id=webhook_id, event_type=event_type, subject=subject,
                    hr_time=hr_time, payload=payload, outcome="pending", detail="")
            .on_conflict_do_nothing(index_elements=["webhook_id"])
            .returning(HrEvent.webhook_id)
        )
        return result.first() is not None

    async def get(self, webhook_id: str) -> HrEvent | None:
        return await self.session.get(HrEvent, webhook_id, populate_existing=True)

    async def settle(self, webhook_id: str, outcome: str, detail: str) -> None:
        await self.session.execute(
            update(HrEvent).where(HrEvent.webhook_id == webhook_id)
            .values(outcome=outcome, detail=detail))

    async def listing(self, *, subject: str | None, outcome: str | None, limit: int,
                      offset: int) -> Sequence[HrEvent]:
        query = select(HrEvent).order_by(HrEvent.received_at.desc(), HrEvent.webhook_id)
        if subject:
            query = query.where(HrEvent.subject == subject)
        if outcome:
            query = query.where(HrEvent.outcome == outcome)
        return (await self.session.execute(query.limit(limit).offset(offset))).scalars().all()


class HoldingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, device_id: uuid.UUID) -> Holding | None:
        return await self.session.get(Holding, device_id, populate_existing=True)

    async def held_by(self, person_id: str) -> Sequence[Holding]:
        query = (select(Holding).where(Holding.holder_person_id == person_id,
                                       Holding.state == "issued")
                 .order_by(Holding.issued_at, Holding.device_id))
        return (await self.session.execute(query)).scalars().all()

    async def add(self, holding: Holding) -> None:
        self.session.add(holding)
        await self.session.flush()


@dataclass(frozen=True)
class CaseFilter:
    status: str | None = "open"
    reason: str | None = None
    unit_id: str | None = None
    person_id: str | None = None
    receiver_person_id: str | None = None
    device_id: uuid.UUID | None = None
    overdue_on: date | None = None  # open and due before this day


class ReturnCaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, case_id: uuid.UUID, *, for_update: bool = False) -> ReturnCase | None:
        query = select(ReturnCase).where(ReturnCase.case_id == case_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(
            query.execution_options(populate_existing=True))).scalar_one_or_none()

    async def open_for_device(self, device_id: uuid.UUID) -> ReturnCase | None:
        query = (select(ReturnCase)
                 .where(ReturnCase.device_id == device_id, ReturnCase.status == "open")
                 .with_for_update().execution_options(populate_existing=True))
        return (await self.session.execute(query)).scalar_one_or_none()

    async def open_for_person(self, person_id: str, reason: str) -> Sequence[ReturnCase]:
        query = (select(ReturnCase)
                 .where(ReturnCase.person_id == person_id, ReturnCase.reason == reason,
                        ReturnCase.status == "open")
                 .order_by(ReturnCase.opened_at).with_for_update()
                 .execution_options(populate_existing=True))
        return (await self.session.execute(query)).scalars().all()

    async def insert_if_none_open(self, values: dict[str, Any]) -> ReturnCase | None:
        """rule U7: one open case per device; None when one is open already."""
        result = await self.session.scalars(
            insert(ReturnCase).values(**values, status="open")
            .on_conflict_do_nothing(index_elements=["device_id"],
                                    index_where=text("status = 'open'"))
            .returning(ReturnCase)
        )
        return result.first()

    def _listing(self, where: Any, limit: int, offset: int) -> Select[Any]:
        return (select(ReturnCase, Holding.state)
                .outerjoin(Holding, Holding.device_id == ReturnCase.device_id)
                .where(where)
                .order_by(ReturnCase.due_date, ReturnCase.opened_at, ReturnCase.case_id)
                .limit(limit).offset(offset))

    async def listing(self, f: CaseFilter, *, limit: int, offset: int
                      ) -> Sequence[tuple[ReturnCase, str | None]]:
        conditions = [
            ReturnCase.status == f.status if f.status else None,
            ReturnCase.reason == f.reason if f.reason else None,
            ReturnCase.unit_id == f.unit_id if f.unit_id else None,
            ReturnCase.person_id == f.person_id if f.person_id else None,
            (ReturnCase.receiver_person_id == f.receiver_person_id
             if f.receiver_person_id else None),
            ReturnCase.device_id == f.device_id if f.device_id else None,
            (ReturnCase.due_date < f.overdue_on) if f.overdue_on else None,
        ]
        if f.overdue_on:
            conditions.append(ReturnCase.status == "open")
        where = and_(true(), *(c for c in conditions if c is not None))
        query = self._listing(where, limit, offset)
        return [(row[0], row[1]) for row in (await self.session.execute(query)).all()]

    async def for_manager(self, manager_id: str, *, status: str | None, limit: int, offset: int
                          ) -> Sequence[tuple[ReturnCase, str | None]]:
        """Cases addressed to the manager, of their staff (people they are the nearest manager
        of, or who work in a unit they head), or of a device of a unit they head."""
        headed = select(Unit.unit_id).where(Unit.head_person_id == manager_id)
        staff = select(Person.person_id).where(or_(Person.nearest_manager_id == manager_id,
                                                   Person.unit_id.in_(headed)))
        where = or_(ReturnCase.receiver_person_id == manager_id,
                    ReturnCase.person_id.in_(staff), ReturnCase.unit_id.in_(headed))
        if status:
            where = where & (ReturnCase.status == status)
        query = self._listing(where, limit, offset)
        return [(row[0], row[1]) for row in (await self.session.execute(query)).all()]

    async def escalations_of(self, case_ids: Iterable[uuid.UUID]
                             ) -> dict[uuid.UUID, list[ReturnEscalation]]:
        ids = list(case_ids)
        found: dict[uuid.UUID, list[ReturnEscalation]] = {i: [] for i in ids}
        if not ids:
            return found
        query = (select(ReturnEscalation).where(ReturnEscalation.case_id.in_(ids))
                 .order_by(ReturnEscalation.case_id, ReturnEscalation.level))
        for escalation in (await self.session.execute(query)).scalars():
            found[escalation.case_id].append(escalation)
        return found

    async def overdue(self, as_of: date) -> Sequence[tuple[ReturnCase, str | None, str | None]]:
        """Open cases due before `as_of`, whose device is not lost, with the heads above them."""
        parent = Unit.__table__.alias("parent")
        query = (
            select(ReturnCase, Unit.head_person_id, parent.c.head_person_id)
            .outerjoin(Holding, Holding.device_id == ReturnCase.device_id)
            .outerjoin(Unit, Unit.unit_id == ReturnCase.unit_id)
            .outerjoin(parent, parent.c.unit_id == Unit.parent_unit_id)
            .where(ReturnCase.status == "open", ReturnCase.due_date < as_of,
                   Holding.state.is_distinct_from("lost"))
            .order_by(ReturnCase.due_date, ReturnCase.case_id)
        )
        return [(r[0], r[1], r[2]) for r in (await self.session.execute(query)).all()]

    async def highest_levels_below(self, levels: dict[uuid.UUID, int]) -> dict[uuid.UUID, int]:
        """Per case, its highest escalation level recorded below the given one (absent: none)."""
        found: dict[uuid.UUID, int] = {}
        pairs = list(levels.items())
        for start in range(0, len(pairs), 1000):  # PostgreSQL caps the parameters per statement
            wanted = values(column("case_id", Uuid), column("level", Integer),
                            name="wanted").data(pairs[start:start + 1000])
            query = (select(ReturnEscalation.case_id, func.max(ReturnEscalation.level))
                     .join(wanted, and_(wanted.c.case_id == ReturnEscalation.case_id,
                                        ReturnEscalation.level < wanted.c.level))
                     .group_by(ReturnEscalation.case_id))
            found.update({row[0]: row[1] for row in (await self.session.execute(query)).all()})
        return found

    async def add_escalations(self, rows: list[dict[str, Any]]) -> set[tuple[uuid.UUID, int]]:
        """Insert the escalations not made before; returns the (case, level) pairs inserted."""
        if not rows:
            return set()
        result = await self.session.execute(
            insert(ReturnEscalation).values(rows).on_conflict_do_nothing()
            .returning(ReturnEscalation.case_id, ReturnEscalation.level))
        return {(row[0], row[1]) for row in result}


class LossRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, loss_id: uuid.UUID) -> LossCase | None:
        return await self.session.get(LossCase, loss_id, populate_existing=True)

    async def open_for_device(self, device_id: uuid.UUID) -> LossCase | None:
        query = (select(LossCase)
                 .where(LossCase.device_id == device_id, LossCase.status == "open")
                 .with_for_update().execution_options(populate_existing=True))
        return (await self.session.execute(query)).scalar_one_or_none()

    async def latest_for_device(self, device_id: uuid.UUID, *, reported_before: datetime
                                ) -> LossCase | None:
        """The device's newest loss reported before a moment, open or closed, locked."""
        query = (select(LossCase)
                 .where(LossCase.device_id == device_id, LossCase.reported_at <= reported_before)
                 .order_by(LossCase.reported_at.desc()).limit(1)
                 .with_for_update().execution_options(populate_existing=True))
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add(self, loss: LossCase) -> None:
        self.session.add(loss)
        await self.session.flush()

    async def listing(self, *, status: str | None, person_id: str | None, limit: int,
                      offset: int) -> Sequence[LossCase]:
        query = select(LossCase).order_by(LossCase.reported_at.desc(), LossCase.loss_id)
        if status:
            query = query.where(LossCase.status == status)
        if person_id:
            query = query.where(LossCase.person_id == person_id)
        return (await self.session.execute(query.limit(limit).offset(offset))).scalars().all()
