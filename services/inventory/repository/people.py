"""SQL of people and their telephony (B4, U1–U3): the people read model, extensions, reports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.domain_telephony import Staffing
from services.inventory.models import Unit
from services.inventory.models_people import Extension, Person, TelephonyReport


class PeopleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, person_id: str, *, for_update: bool = False) -> Person | None:
        query = select(Person).where(Person.person_id == person_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def insert_new(self, person: Person) -> bool:
        """Insert unless another delivery did at the same moment; True when inserted."""
        result = await self.session.execute(
            insert(Person).values(person_id=person.person_id, unit_id=person.unit_id,
                                  nearest_manager_id=person.nearest_manager_id,
                                  last_day=person.last_day,
                                  source_event_time=person.source_event_time)
            .on_conflict_do_nothing().returning(Person.person_id))
        return result.first() is not None

    async def staffing(self, person_id: str) -> Staffing | None:
        row = (await self.session.execute(
            select(Person, Unit.head_person_id).outerjoin(Unit, Unit.unit_id == Person.unit_id)
            .where(Person.person_id == person_id))).first()
        if row is None:
            return None
        person, head = row
        return Staffing(person.person_id, person.unit_id, person.nearest_manager_id, head,
                        person.last_day)

    async def staff_of(self, manager_id: str, *, today: date) -> Sequence[Staffing]:
        """Whom `manager_id` manages: their nearest manager is `manager_id`, or HR named none
        and `manager_id` heads their unit. People whose employment has ended are left out."""
        rows = await self.session.execute(
            select(Person, Unit.head_person_id).outerjoin(Unit, Unit.unit_id == Person.unit_id)
            .where(or_(Person.nearest_manager_id == manager_id,
                       Person.nearest_manager_id.is_(None) & (Unit.head_person_id == manager_id)),
                   or_(Person.last_day.is_(None), Person.last_day >= today),
                   Person.person_id != manager_id)
            .order_by(Person.person_id))
        return [Staffing(p.person_id, p.unit_id, p.nearest_manager_id, head, p.last_day)
                for p, head in rows]


class ExtensionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_report(self, report_id: str, source: str, entries: int) -> bool:
        """False when this report was received before (the platform retried)."""
        result = await self.session.execute(
            insert(TelephonyReport).values(report_id=report_id, source=source, entries=entries,
                                           applied=0)
            .on_conflict_do_nothing().returning(TelephonyReport.report_id))
        return result.first() is not None

    async def report(self, report_id: str) -> TelephonyReport | None:
        return await self.session.get(TelephonyReport, report_id)

    async def upsert(self, rows: Sequence[dict[str, object]]) -> set[str]:
        """Write what the platform observed, unless a newer observation is stored already (a
        late or re-sent report); returns the extension ids that changed. One statement, so two
        replicas applying reports at once cannot both insert the same new extension."""
        if not rows:
            return set()
        statement = insert(Extension).values(list(rows))
        changed = {c: statement.excluded[c] for c in (
            "number", "kind", "person_id", "presence", "forwarding_active", "forwarding_target",
            "voicemail_set_up", "personal_greeting", "removed", "observed_at", "report_id")}
        result = await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[Extension.extension_id],
                set_={**changed, "updated_at": func.now()},
                where=Extension.observed_at < statement.excluded.observed_at)
            .returning(Extension.extension_id))
        return set(result.scalars())

    async def set_applied(self, report_id: str, applied: int) -> None:
        await self.session.execute(
            update(TelephonyReport).where(TelephonyReport.report_id == report_id)
            .values(applied=applied))

    async def of_people(self, person_ids: Sequence[str]) -> dict[str, list[Extension]]:
        rows = await self.session.execute(
            select(Extension).where(Extension.person_id.in_(person_ids),
                                    Extension.removed.is_(False))
            .order_by(Extension.extension_id))
        found: dict[str, list[Extension]] = {p: [] for p in person_ids}
        for extension in rows.scalars():
            assert extension.person_id is not None
            found[extension.person_id].append(extension)
        return found

    async def listing(self, *, person_id: str | None, limit: int) -> Sequence[Extension]:
        query = select(Extension).where(Extension.removed.is_(False))
        if person_id is not None:
            query = query.where(Extension.person_id == person_id)
        query = query.order_by(Extension.extension_id).limit(limit)
        return (await self.session.execute(query)).scalars().all()
