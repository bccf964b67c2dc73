"""Loss cases (rule U9): reported by the holder, their manager or IT service. Never commits.

Lifecycle links the intranet's loss instruction and announces `loss-reported`; inventory blocks
the SIM and locks or wipes the device through MDM and answers with `device-lost`. The case closes
as found when the device is back in inventory's hands (returned, or issued again).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle import domain, offboarding
from services.lifecycle.domain import Parties
from services.lifecycle.models import LossCase
from services.lifecycle.repository import (
    HoldingRepository,
    LossRepository,
    PersonRepository,
    UnitRepository,
    lock,
)
from services.lifecycle.schemas import LossIn
from shared.audit import record_audit
from shared.auth import User
from shared.errors import Forbidden, NotFound
from shared.events.catalogue import LossReported
from shared.messaging.outbox import add_event

LOSS_FIELDS = ("loss_id", "device_id", "person_id", "unit_id", "reported_by", "status",
               "sim_blocked", "mdm_action", "replacement_device_id")


def _snapshot(loss: LossCase) -> dict[str, object]:
    return {name: offboarding.plain(getattr(loss, name)) for name in LOSS_FIELDS}


async def report(session: AsyncSession, *, actor: User, data: LossIn, instruction_url: str,
                 today: date) -> LossCase:
    await lock(session, "device", data.device_id)
    holding = await HoldingRepository(session).get(data.device_id)
    view = domain.check_can_report_loss(
        offboarding.holding_view(holding) if holding else None, data.device_id)
    parties = await offboarding.device_parties(session, view, actor, members_count_on=today)
    if not domain.may_act_on_device(actor, parties):
        raise Forbidden("Only the holder, their manager or IT service may report this device "
                        "lost")
    if view.holder_person_id:
        await lock(session, "person", view.holder_person_id)
    repo = LossRepository(session)
    existing = await repo.open_for_device(data.device_id)
    domain.check_not_lost_already(view, existing.loss_id if existing else None)
    assert view.unit_id is not None
    loss = LossCase(loss_id=uuid.uuid4(), device_id=data.device_id,
                    person_id=view.holder_person_id, unit_id=view.unit_id,
                    reported_by=actor.person_id, circumstances=data.circumstances,
                    lost_on=data.lost_on, instruction_url=instruction_url, status="open")
    await repo.add(loss)
    await record_audit(session, actor=actor.person_id, action="loss.report",
                       object_type="loss", object_id=str(loss.loss_id), after=_snapshot(loss))
    await add_event(session, LossReported(
        loss_id=loss.loss_id, device_id=loss.device_id, person_id=loss.person_id,
        reported_by=actor.person_id, circumstances=loss.circumstances, unit_id=loss.unit_id,
        instruction_url=instruction_url,
    ), subject=str(loss.device_id))
    return loss


async def loss_parties(session: AsyncSession, loss: LossCase) -> Parties:
    managers = await PersonRepository(session).managers_of(loss.person_id)
    managers.add(await UnitRepository(session).head_of(loss.unit_id) or "")
    return Parties(person_id=loss.person_id, managers=frozenset(m for m in managers if m),
                   unit_id=loss.unit_id)


async def read(session: AsyncSession, *, actor: User, loss_id: uuid.UUID) -> LossCase:
    loss = await LossRepository(session).get(loss_id)
    if loss is None:
        raise NotFound(f"Loss {loss_id} does not exist")
    if actor.person_id != loss.reported_by and not domain.may_read(
            actor, await loss_parties(session, loss)):
        raise Forbidden("Only the holder, their manager, the reporter, IT service or an "
                        "auditor may see this loss")
    return loss


async def record_inventory_action(session: AsyncSession, loss: LossCase, *, sim_blocked: bool,
                                  mdm_action: str) -> None:
    before = _snapshot(loss)
    loss.sim_blocked, loss.mdm_action = sim_blocked, mdm_action
    await session.flush()
    await record_audit(session, actor="inventory", action="loss.secured", object_type="loss",
                       object_id=str(loss.loss_id), before=before, after=_snapshot(loss))


async def replaced(session: AsyncSession, lost_device_id: uuid.UUID,
                   replacement_device_id: uuid.UUID, when: datetime, *, actor: str) -> None:
    """rule U9: inventory issued a replacement for the lost device; the loss it replaces (the
    newest reported before the issue) shows it. That case stays open until the device turns up;
    it may have turned up already when this event is applied late, so a found case counts too."""
    loss = await LossRepository(session).latest_for_device(lost_device_id, reported_before=when)
    if loss is None or loss.replacement_device_id is not None:
        return
    before = _snapshot(loss)
    loss.replacement_device_id = replacement_device_id
    await session.flush()
    await record_audit(session, actor=actor, action="loss.replaced", object_type="loss",
                       object_id=str(loss.loss_id), before=before, after=_snapshot(loss))


async def found(session: AsyncSession, device_id: uuid.UUID, when: datetime, *, actor: str
                ) -> None:
    """A lost device back in inventory's hands was found: its loss case closes (rule U9)."""
    loss = await LossRepository(session).open_for_device(device_id)
    if loss is None:
        return
    before = _snapshot(loss)
    loss.status, loss.closed_at = "found", when
    await session.flush()
    await record_audit(session, actor=actor, action="loss.found", object_type="loss",
                       object_id=str(loss.loss_id), before=before, after=_snapshot(loss))
