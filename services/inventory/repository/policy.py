"""SQL of the policy read model (rules B5, P2, S1): lifecycle's newest policy-changed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.models import PolicySnapshot
from shared.events.catalogue import PolicyChanged


class PolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def keep_newest(self, event: PolicyChanged, event_time: datetime) -> None:
        """Store `event` unless the stored one is as new or newer: the highest version wins, and
        for the same version the later event (lifecycle republishes a version when a unit
        moves). One statement, so concurrent and redelivered events cannot interleave."""
        s = PolicySnapshot
        statement = insert(s).values(singleton=True, policy_version=event.policy_version,
                                     event_time=event_time, policy=event.model_dump(mode="json"))
        await self.session.execute(statement.on_conflict_do_update(
            index_elements=[s.singleton],
            set_={"policy_version": statement.excluded.policy_version,
                  "event_time": statement.excluded.event_time,
                  "policy": statement.excluded.policy},
            where=tuple_(s.policy_version, s.event_time)
            < tuple_(statement.excluded.policy_version, statement.excluded.event_time)))

    async def latest(self) -> PolicyChanged | None:
        document = (await self.session.execute(select(PolicySnapshot.policy))).scalar_one_or_none()
        return None if document is None else PolicyChanged.model_validate(document)
