"""Orderer use cases (rule O2): the head of a unit appoints and revokes its orderers.

The right follows the head as lifecycle reports it (`unit-changed`): whoever the read model names
as head now is the one who may appoint. Appointments belong to the unit, not to the head who made
them, so a new head inherits them and may revoke them. Never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import domain
from services.orders.models import KnownUnit, Orderer
from services.orders.read_model_repository import KnownUnitRepository, PeopleRepository
from services.orders.repository import OrdererRepository, OrderListing
from shared.audit import record_audit
from shared.auth import User
from shared.db import driver
from shared.errors import Forbidden, NotFound, RuleViolation
from shared.events.catalogue import OrdererAppointed, OrdererRevoked
from shared.messaging.outbox import add_event

READ_ALL = ("it-service", "auditor")


def _snapshot(orderer: Orderer) -> dict[str, Any]:
    return {"unit_id": orderer.unit_id, "person_id": orderer.person_id,
            "active": orderer.active, "appointed_by": orderer.appointed_by,
            "revoked_by": orderer.revoked_by}


async def known_unit(session: AsyncSession, unit_id: str) -> KnownUnit:
    unit = await KnownUnitRepository(session).get(unit_id)
    if unit is None:
        raise NotFound(f"Unit {unit_id} is not known to ordering (yet): lifecycle registers "
                       "units")
    return unit


async def appoint(session: AsyncSession, *, actor: User, unit_id: str, person_id: str
                  ) -> tuple[Orderer, bool]:
    """Idempotent: appointing an active orderer again changes nothing. True when it changed."""
    unit = await known_unit(session, unit_id)
    domain.check_head(unit_id, unit.head_person_id, actor.person_id)
    # Locked: an employment end or transfer applied meanwhile (its upsert takes this row) then
    # waits for this appointment and lapses it, or this waits for it — and after an end refuses.
    person = await PeopleRepository(session).get(person_id, for_update=True)
    if person is None or not person.employed:
        raise RuleViolation(f"{person_id} is not known as an employee of the municipality; an "
                            "orderer must be one (rule O2).", rule="O2")
    orderers = OrdererRepository(session)
    now = datetime.now(UTC)
    created = await orderers.add({"unit_id": unit_id, "person_id": person_id, "active": True,
                                  "appointed_by": actor.person_id, "appointed_at": now})
    orderer = await orderers.get(unit_id, person_id, for_update=True)
    assert orderer is not None
    before = None
    if not created:
        if orderer.active:
            return orderer, False
        before = _snapshot(orderer)
        orderer.active, orderer.appointed_by, orderer.appointed_at = True, actor.person_id, now
        orderer.revoked_by = orderer.revoked_at = None
        await session.flush()
    await record_audit(session, actor=actor.person_id, action="orderer.appoint",
                       object_type="orderer", object_id=f"{unit_id}/{person_id}",
                       before=before, after=_snapshot(orderer))
    await add_event(session, OrdererAppointed(unit_id=unit_id, person_id=person_id,
                                              appointed_by=actor.person_id), subject=unit_id)
    return orderer, True


async def revoke(session: AsyncSession, *, actor: User, unit_id: str, person_id: str
                 ) -> Orderer:
    unit = await known_unit(session, unit_id)
    domain.check_head(unit_id, unit.head_person_id, actor.person_id)
    orderer = await OrdererRepository(session).get(unit_id, person_id, for_update=True)
    if orderer is None or not orderer.active:
        raise NotFound(f"{person_id} is not an appointed orderer for unit {unit_id}")
    await _revoke(session, orderer, by=actor.person_id, action="orderer.revoke")
    return orderer


# Who revokes an appointment that lapsed with an HR event (lifecycle's, from HR).
HR_ACTOR = "hr"


async def lapse(session: AsyncSession, *, person_id: str, left_unit_id: str | None,
                reported_at: datetime) -> None:
    """rule O2: a head appoints orderers for their unit, so an appointment lapses when its
    holder leaves that unit (a transfer from it: `left_unit_id`) or the municipality (an
    employment end, as soon as it is announced: `left_unit_id` None, every appointment; from
    then on nothing new is ordered for the person either, rule U7). An appointment made after
    HR reported the change (`reported_at`, a late event) stands. An orderer appointed for a
    unit they do not work in (central ordering for several units) keeps it on a transfer
    between other units."""
    for orderer in await OrdererRepository(session).active_of_person(person_id):
        if left_unit_id is not None and orderer.unit_id != left_unit_id:
            continue
        if orderer.appointed_at >= reported_at:
            continue
        await _revoke(session, orderer, by=HR_ACTOR, action="orderer.lapse")


async def _revoke(session: AsyncSession, orderer: Orderer, *, by: str, action: str) -> None:
    before = _snapshot(orderer)
    orderer.active, orderer.revoked_by = False, by
    orderer.revoked_at = datetime.now(UTC)
    await session.flush()
    await record_audit(session, actor=by, action=action, object_type="orderer",
                       object_id=f"{orderer.unit_id}/{orderer.person_id}",
                       before=before, after=_snapshot(orderer))
    await add_event(session, OrdererRevoked(unit_id=orderer.unit_id,
                                            person_id=orderer.person_id, revoked_by=by),
                    subject=orderer.unit_id)


async def list_orderers(session: AsyncSession, *, actor: User, unit_id: str,
                        include_revoked: bool) -> Sequence[Orderer]:
    """The unit's head, IT service and auditors see who orders for a unit."""
    unit = await known_unit(session, unit_id)
    if not actor.has_any(*READ_ALL) and actor.person_id != unit.head_person_id:
        raise Forbidden(f"Only the head of unit {unit_id}, IT service and auditors see its "
                        "orderers.")
    return await OrdererRepository(session).of_unit(unit_id, include_revoked=include_revoked)


async def rights_of(session: AsyncSession, person_id: str) -> dict[str, list[str]]:
    standing = await OrderListing(await driver(session)).standing(person_id)
    return {"orders_for": list(standing.orders_for), "heads": list(standing.heads),
            "decides_for": sorted({unit for unit, _ in standing.decides_for})}
