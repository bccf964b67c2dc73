"""SQL of private use (rules P1, P3): agreements, the P3 text's versions, and the subscriptions
read model kept from inventory's events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle.models import (
    Person,
    PrivateUseAgreement,
    PrivateUseTerms,
    Subscription,
    Unit,
)

OPEN_STATUSES = ("requested", "approved", "active")


class SubscriptionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, subscription_id: uuid.UUID) -> Subscription | None:
        return await self.session.get(Subscription, subscription_id, populate_existing=True)

    async def active_on_device(self, device_id: uuid.UUID) -> Sequence[Subscription]:
        query = (select(Subscription)
                 .where(Subscription.device_id == device_id, Subscription.state == "active")
                 .order_by(Subscription.subscription_id))
        return (await self.session.execute(query)).scalars().all()

    async def active_on_devices(self, device_ids: list[uuid.UUID]
                                ) -> dict[uuid.UUID, list[uuid.UUID]]:
        found: dict[uuid.UUID, list[uuid.UUID]] = {d: [] for d in device_ids}
        if not device_ids:
            return found
        query = (select(Subscription.device_id, Subscription.subscription_id)
                 .where(Subscription.device_id.in_(device_ids), Subscription.state == "active")
                 .order_by(Subscription.subscription_id))
        for device_id, subscription_id in await self.session.execute(query):
            found[device_id].append(subscription_id)
        return found

    async def apply(self, values: dict[str, Any], event_time: datetime) -> bool:
        """Keep the newest fact per subscription: an older event arriving late changes nothing.
        True when this one was applied."""
        stmt = insert(Subscription).values(**values, event_time=event_time)
        result = await self.session.execute(stmt.on_conflict_do_update(
            index_elements=["subscription_id"],
            set_={name: stmt.excluded[name] for name in (*values, "event_time")
                  if name != "subscription_id"},
            where=Subscription.event_time < stmt.excluded.event_time)
            .returning(Subscription.subscription_id))
        return result.first() is not None


class TermsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def current(self) -> PrivateUseTerms:
        query = select(PrivateUseTerms).order_by(PrivateUseTerms.version.desc()).limit(1)
        terms = (await self.session.execute(query)).scalar_one_or_none()
        assert terms is not None, "migration lifecycle_0003 publishes version 1"
        return terms

    async def get(self, version: int) -> PrivateUseTerms | None:
        return await self.session.get(PrivateUseTerms, version)

    async def add(self, terms: PrivateUseTerms) -> None:
        self.session.add(terms)
        await self.session.flush()


class AgreementRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, agreement_id: uuid.UUID, *, for_update: bool = False
                  ) -> PrivateUseAgreement | None:
        query = select(PrivateUseAgreement).where(
            PrivateUseAgreement.agreement_id == agreement_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(
            query.execution_options(populate_existing=True))).scalar_one_or_none()

    async def insert_if_none_open(self, values: dict[str, Any]) -> PrivateUseAgreement | None:
        """One open agreement per person and phone; None when one is open already."""
        result = await self.session.scalars(
            insert(PrivateUseAgreement).values(**values)
            .on_conflict_do_nothing(
                index_elements=["person_id", "device_id"],
                index_where=text("status IN ('requested', 'approved', 'active')"))
            .returning(PrivateUseAgreement))
        return result.first()

    async def open_for(self, person_id: str, device_id: uuid.UUID) -> PrivateUseAgreement | None:
        query = select(PrivateUseAgreement).where(
            PrivateUseAgreement.person_id == person_id,
            PrivateUseAgreement.device_id == device_id,
            PrivateUseAgreement.status.in_(OPEN_STATUSES))
        return (await self.session.execute(query)).scalar_one_or_none()

    async def of_person(self, person_id: str, *, for_update: bool = False
                        ) -> Sequence[PrivateUseAgreement]:
        query = (select(PrivateUseAgreement).where(PrivateUseAgreement.person_id == person_id)
                 .order_by(PrivateUseAgreement.requested_at, PrivateUseAgreement.agreement_id))
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(
            query.execution_options(populate_existing=True))).scalars().all()

    async def listing(self, *, status: str | None, person_id: str | None, unit_id: str | None,
                      limit: int, offset: int) -> Sequence[PrivateUseAgreement]:
        query = select(PrivateUseAgreement)
        if status:
            query = query.where(PrivateUseAgreement.status == status)
        if person_id:
            query = query.where(PrivateUseAgreement.person_id == person_id)
        if unit_id:
            query = query.where(PrivateUseAgreement.unit_id == unit_id)
        query = query.order_by(PrivateUseAgreement.requested_at.desc(),
                               PrivateUseAgreement.agreement_id)
        return (await self.session.execute(query.limit(limit).offset(offset))).scalars().all()

    async def for_manager(self, manager_id: str, *, status: str | None, limit: int, offset: int
                          ) -> Sequence[PrivateUseAgreement]:
        """Agreements of the manager's staff (people they are the nearest manager of, or who
        work in a unit they head) and of units they head: a head's decisions are among them."""
        headed = select(Unit.unit_id).where(Unit.head_person_id == manager_id)
        children = select(Unit.unit_id).where(Unit.parent_unit_id.in_(headed))
        staff = select(Person.person_id).where(or_(Person.nearest_manager_id == manager_id,
                                                   Person.unit_id.in_(headed)))
        # A head's own phone is decided one level up: the head of the parent unit sees it.
        heads_below = select(Unit.head_person_id).where(Unit.unit_id.in_(children))
        query = select(PrivateUseAgreement).where(or_(
            PrivateUseAgreement.person_id.in_(staff),
            PrivateUseAgreement.unit_id.in_(headed),
            PrivateUseAgreement.person_id.in_(heads_below)))
        if status:
            query = query.where(PrivateUseAgreement.status == status)
        query = query.order_by(PrivateUseAgreement.requested_at, PrivateUseAgreement.agreement_id)
        return (await self.session.execute(query.limit(limit).offset(offset))).scalars().all()
