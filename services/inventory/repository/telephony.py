"""SQL of SIM cards, phone numbers and subscriptions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.models import PhoneNumber, Sim, Subscription


class TelephonyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_sims(self, rows: Sequence[dict[str, object]]) -> set[str]:
        """Insert SIMs; returns the ICCIDs that were new (a re-registered one is left alone)."""
        result = await self.session.execute(
            insert(Sim).values(list(rows)).on_conflict_do_nothing().returning(Sim.iccid))
        return set(result.scalars())

    async def add_numbers(self, msisdns: Sequence[str]) -> set[str]:
        result = await self.session.execute(
            insert(PhoneNumber).values([{"msisdn": m} for m in msisdns])
            .on_conflict_do_nothing().returning(PhoneNumber.msisdn))
        return set(result.scalars())

    async def sims_by_iccid(self, iccids: Sequence[str]) -> dict[str, Sim]:
        if not iccids:
            return {}
        rows = await self.session.execute(select(Sim).where(Sim.iccid.in_(iccids)))
        return {sim.iccid: sim for sim in rows.scalars()}

    async def sim(self, sim_id: uuid.UUID) -> Sim | None:
        return await self.session.get(Sim, sim_id, with_for_update=True)

    async def free_sim_and_number(self) -> tuple[Sim, PhoneNumber] | None:
        """Lock one SIM in stock and one free number, oldest first; None when either is out."""
        sim = next(iter(await self.free_sims(1)), None)
        number = (await self.session.execute(
            select(PhoneNumber).where(PhoneNumber.state == "free").order_by(PhoneNumber.msisdn)
            .limit(1).with_for_update(skip_locked=True))).scalar_one_or_none()
        if sim is None or number is None:
            return None
        return sim, number

    async def any_free_pair(self) -> bool:
        """Whether a SIM in stock and a free number both exist (nothing locked)."""
        sim = exists().where(Sim.state == "in-stock")
        number = exists().where(PhoneNumber.state == "free")
        return bool((await self.session.execute(select(and_(sim, number)))).scalar())

    async def free_sims(self, count: int) -> Sequence[Sim]:
        """Lock up to `count` SIMs in stock, oldest first, in one statement (a SIM this
        transaction locked but has not flushed yet would otherwise come back again)."""
        return (await self.session.execute(
            select(Sim).where(Sim.state == "in-stock").order_by(Sim.created_at, Sim.sim_id)
            .limit(count).with_for_update(skip_locked=True))).scalars().all()

    async def set_number_state(self, msisdn: str, state: str) -> None:
        await self.session.execute(update(PhoneNumber).where(PhoneNumber.msisdn == msisdn)
                                   .values(state=state, updated_at=func.now()))

    async def add_subscription(self, subscription: Subscription) -> None:
        self.session.add(subscription)
        await self.session.flush()

    async def subscription(self, subscription_id: uuid.UUID, *, for_update: bool = False
                           ) -> Subscription | None:
        query = select(Subscription).where(Subscription.subscription_id == subscription_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def unpaired_of_order(self, order_id: uuid.UUID) -> Sequence[Subscription]:
        rows = await self.session.execute(
            select(Subscription)
            .where(Subscription.order_id == order_id, Subscription.state == "reserved",
                   Subscription.device_id.is_(None))
            .order_by(Subscription.created_at, Subscription.subscription_id)
            .with_for_update())
        return rows.scalars().all()

    async def live_on_device(self, device_id: uuid.UUID) -> Sequence[Subscription]:
        rows = await self.session.execute(
            select(Subscription)
            .where(Subscription.device_id == device_id, Subscription.state != "terminated")
            .order_by(Subscription.subscription_id).with_for_update())
        return rows.scalars().all()

    async def unpaired_active_of(self, person_id: str) -> Sequence[Subscription]:
        rows = await self.session.execute(
            select(Subscription)
            .where(Subscription.holder_person_id == person_id, Subscription.state == "active",
                   Subscription.device_id.is_(None))
            .order_by(Subscription.subscription_id).with_for_update())
        return rows.scalars().all()

    async def listing(self, *, holder_person_id: str | None, unit_ids: Sequence[str] | None,
                      state: str | None, after: uuid.UUID | None, limit: int
                      ) -> Sequence[Subscription]:
        query = select(Subscription)
        if holder_person_id is not None and unit_ids is not None:
            query = query.where((Subscription.holder_person_id == holder_person_id)
                                | Subscription.unit_id.in_(unit_ids))
        if state is not None:
            query = query.where(Subscription.state == state)
        if after is not None:
            query = query.where(Subscription.subscription_id > after)
        query = query.order_by(Subscription.subscription_id).limit(limit)
        return (await self.session.execute(query)).scalars().all()
