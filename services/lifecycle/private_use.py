"""Private use of a municipal phone (rules P1, P3): request, decide, sign, end. Never commits.

The agreement is in force from the employee's signature, and `private-use-approved` is published
then, not at the head's approval: an approval the employee never signed binds nobody, and P2's
cost split (inventory) must charge the employee only under an agreement they signed. It ends by
the employee or the head, or automatically (from the HR flow in service.py) when employment ends
or the person moves to another unit: `private-use-ended`.

Locks: device before person, as everywhere in lifecycle; the HR flow holds the person's lock, so
a signature and an end of employment never miss each other.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle import domain_private_use as rules
from services.lifecycle import policy
from services.lifecycle.domain import last_day_before_move
from services.lifecycle.domain_private_use import Parties, Status
from services.lifecycle.models import PrivateUseAgreement, PrivateUseTerms
from services.lifecycle.private_use_repository import (
    AgreementRepository,
    SubscriptionRepository,
    TermsRepository,
)
from services.lifecycle.repository import (
    HoldingRepository,
    PersonRepository,
    UnitRepository,
    lock,
)
from services.lifecycle.schemas_private_use import (
    AgreementOut,
    AgreementRequestIn,
    RefusalIn,
    SignatureIn,
    TermsOut,
)
from shared.audit import record_audit
from shared.auth import User
from shared.errors import Conflict, Forbidden, NotFound
from shared.events.catalogue import PrivateUseApproved, PrivateUseEnded
from shared.messaging.outbox import add_event

FIELDS = ("agreement_id", "person_id", "unit_id", "device_id", "subscription_id", "status",
          "decided_by", "decision_note", "terms_version", "terms_sha256", "valid_from",
          "ended_on", "end_reason", "ended_by")
HR_ACTOR = "hr"


def _snapshot(agreement: PrivateUseAgreement) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        return str(value) if isinstance(value, uuid.UUID | date) else value
    return {name: plain(getattr(agreement, name)) for name in FIELDS}


async def _audit(session: AsyncSession, actor: str, action: str,
                 before: dict[str, Any] | None, agreement: PrivateUseAgreement) -> None:
    await record_audit(session, actor=actor, action=f"private-use.{action}",
                       object_type="private-use-agreement",
                       object_id=str(agreement.agreement_id), before=before,
                       after=_snapshot(agreement))


async def parties_of(session: AsyncSession, person_id: str, unit_id: str) -> Parties:
    managers = await PersonRepository(session).managers_of(person_id)
    units = UnitRepository(session)
    unit = await units.get(unit_id)
    parent_head = await units.head_of(unit.parent_unit_id) if unit else None
    head = rules.deciding_head(person_id, unit.head_person_id if unit else None, parent_head)
    return Parties(person_id=person_id, managers=frozenset(managers), head=head)


async def _load(session: AsyncSession, agreement_id: uuid.UUID) -> PrivateUseAgreement:
    """The agreement, locked, after its person's lock (the HR flow's order)."""
    repo = AgreementRepository(session)
    found = await repo.get(agreement_id)
    if found is None:
        raise NotFound(f"Private-use agreement {agreement_id} does not exist")
    await lock(session, "person", found.person_id)
    agreement = await repo.get(agreement_id, for_update=True)
    assert agreement is not None  # agreements are never deleted
    return agreement


async def _authorised(session: AsyncSession, user: User, agreement: PrivateUseAgreement
                      ) -> Parties:
    parties = await parties_of(session, agreement.person_id, agreement.unit_id)
    if not rules.may_read(user, parties):
        raise Forbidden("Only the employee, their manager, the head of their unit, IT service "
                        "or an auditor may see this agreement")
    return parties


# --- request, decide, sign, end -------------------------------------------------------------


async def request(session: AsyncSession, *, actor: User, data: AgreementRequestIn
                  ) -> PrivateUseAgreement:
    await lock(session, "device", data.device_id)
    await lock(session, "person", data.person_id)
    person = await PersonRepository(session).get(data.person_id)
    if person is None:
        raise NotFound(f"Person {data.person_id} is not known: HR has sent nothing about them")
    rules.check_may_request(actor, await parties_of(session, person.person_id, person.unit_id))
    holding = await HoldingRepository(session).get(data.device_id)
    allowed = (await policy.effective_for_unit(session, person.unit_id)).parameters
    rules.check_can_request(rules.Requester(
        person_id=person.person_id, last_day=person.last_day,
        holder_person_id=holding.holder_person_id if holding else None,
        device_state=holding.state if holding else None,
        device_kind=holding.kind if holding else None,
        private_use_allowed=allowed.private_use_allowed), data.device_id)
    subscription_id = await _subscription(session, data)
    repo = AgreementRepository(session)
    agreement = await repo.insert_if_none_open({
        "agreement_id": uuid.uuid4(), "person_id": person.person_id, "unit_id": person.unit_id,
        "device_id": data.device_id, "subscription_id": subscription_id,
        "status": Status.REQUESTED.value, "motivation": data.motivation,
        "requested_by": actor.person_id, "version": 1})
    if agreement is None:
        existing = await repo.open_for(person.person_id, data.device_id)
        raise Conflict(f"{person.person_id} already has an agreement on private use of device "
                       f"{data.device_id} ({existing.status if existing else 'open'})",
                       agreement_id=str(existing.agreement_id) if existing else None)
    await _audit(session, actor.person_id, "request", None, agreement)
    return agreement


async def _subscription(session: AsyncSession, data: AgreementRequestIn) -> uuid.UUID | None:
    subscriptions = SubscriptionRepository(session)
    if data.subscription_id is not None:
        found = await subscriptions.get(data.subscription_id)
        rules.check_subscription(
            data.person_id, data.device_id, state=found.state if found else None,
            holder=found.holder_person_id if found else None,
            on_device=found.device_id if found else None, subscription_id=data.subscription_id)
        return data.subscription_id
    on_phone = await subscriptions.active_on_device(data.device_id)
    return on_phone[0].subscription_id if len(on_phone) == 1 else None


async def approve(session: AsyncSession, *, actor: User, agreement_id: uuid.UUID, note: str
                  ) -> PrivateUseAgreement:
    agreement = await _load(session, agreement_id)
    parties = await _authorised(session, actor, agreement)
    rules.check_decider(actor, parties)
    rules.check_status(agreement.status, frozenset({Status.REQUESTED}), "approved")
    effective = await policy.effective_for_unit(session, agreement.unit_id)
    rules.check_allowed_here(effective.parameters.private_use_allowed)  # rule B5
    return await _decide(session, actor, agreement, Status.APPROVED, note, "approve")


async def refuse(session: AsyncSession, *, actor: User, agreement_id: uuid.UUID,
                 data: RefusalIn) -> PrivateUseAgreement:
    agreement = await _load(session, agreement_id)
    parties = await _authorised(session, actor, agreement)
    rules.check_decider(actor, parties)
    rules.check_status(agreement.status, frozenset({Status.REQUESTED}), "refused")
    return await _decide(session, actor, agreement, Status.REFUSED, data.reason, "refuse")


async def _decide(session: AsyncSession, actor: User, agreement: PrivateUseAgreement,
                  status: Status, note: str, action: str) -> PrivateUseAgreement:
    before = _snapshot(agreement)
    agreement.status, agreement.decided_by = status.value, actor.person_id
    agreement.decided_at, agreement.decision_note = datetime.now(UTC), note or None
    agreement.version += 1
    await session.flush()
    await _audit(session, actor.person_id, action, before, agreement)
    return agreement


async def sign(session: AsyncSession, *, actor: User, agreement_id: uuid.UUID,
               data: SignatureIn, today: date) -> PrivateUseAgreement:
    """rules P1, P3: signed over the P3 text shown; in force from today."""
    agreement = await _load(session, agreement_id)
    await _authorised(session, actor, agreement)
    rules.check_signer(actor, agreement.person_id)
    rules.check_status(agreement.status, frozenset({Status.APPROVED}), "signed")
    terms = await TermsRepository(session).current()
    rules.check_terms(signed_version=data.terms_version, signed_sha256=data.terms_sha256,
                      current_version=terms.version, current_sha256=terms.sha256)
    before = _snapshot(agreement)
    agreement.status, agreement.valid_from = Status.ACTIVE.value, today
    agreement.terms_version, agreement.terms_sha256 = terms.version, terms.sha256
    agreement.signed_at, agreement.version = datetime.now(UTC), agreement.version + 1
    await session.flush()
    await _audit(session, actor.person_id, "sign", before, agreement)
    assert agreement.decided_by is not None
    await add_event(session, PrivateUseApproved(
        agreement_id=agreement.agreement_id, person_id=agreement.person_id,
        subscription_id=agreement.subscription_id, approved_by=agreement.decided_by,
        valid_from=today, device_id=agreement.device_id, unit_id=agreement.unit_id,
        terms_version=terms.version, signed_at=agreement.signed_at,
    ), subject=str(agreement.agreement_id))
    return agreement


async def end(session: AsyncSession, *, actor: User, agreement_id: uuid.UUID, today: date
              ) -> PrivateUseAgreement:
    """The employee or the head ends it (in force: ended today; pending: withdrawn)."""
    agreement = await _load(session, agreement_id)
    parties = await _authorised(session, actor, agreement)
    reason = rules.end_reason_for(actor, parties, agreement.status)
    rules.check_status(agreement.status, rules.OPEN, "ended")
    await _finish(session, agreement, reason=reason, last_day=today, actor=actor.person_id)
    return agreement


async def _finish(session: AsyncSession, agreement: PrivateUseAgreement, *, reason: str,
                  last_day: date, actor: str) -> None:
    """End an agreement in force (announced), or cancel one nobody signed yet (not announced:
    nobody outside lifecycle ever heard of it)."""
    before = _snapshot(agreement)
    active = agreement.status == Status.ACTIVE
    agreement.status = (Status.ENDED if active else Status.CANCELLED).value
    agreement.end_reason, agreement.ended_by = reason, actor
    agreement.ended_on = rules.ended_on(agreement.valid_from, last_day) if active else None
    agreement.version += 1
    await session.flush()
    await _audit(session, actor, "end" if active else "cancel", before, agreement)
    if active:
        await _announce_end(session, agreement)


async def _announce_end(session: AsyncSession, agreement: PrivateUseAgreement) -> None:
    assert agreement.ended_on is not None and agreement.end_reason is not None
    await add_event(session, PrivateUseEnded(
        agreement_id=agreement.agreement_id, person_id=agreement.person_id,
        reason=agreement.end_reason,  # type: ignore[arg-type]
        ended_on=agreement.ended_on, unit_id=agreement.unit_id,
        subscription_id=agreement.subscription_id,
    ), subject=str(agreement.agreement_id))


# --- automatic ends, from the HR flow (service.py holds the person's lock) -------------------


async def employment_ended(session: AsyncSession, person_id: str, last_day: date, *,
                           corrects: date | None = None) -> None:
    """rule P1: every agreement ends with the employment, on the last day. `corrects`: the last
    day of the same employment this end corrects (None: a first end)."""
    await _end_all(session, person_id, "employment-ended", last_day, corrects,
                   lambda a: True)


async def transferred(session: AsyncSession, person_id: str, to_unit_id: str,
                      effective_date: date, *, corrects: date | None = None) -> None:
    """A move to another unit ends the old unit's agreements on the last day there, the day
    before the move, as its devices are due back (rules P1, U7): the new unit's head has decided
    nothing. `corrects`: the effective date of the same move (same units) this one corrects
    (None: a new move)."""
    replaced = last_day_before_move(corrects) if corrects is not None else None
    await _end_all(session, person_id, "transferred", last_day_before_move(effective_date),
                   replaced, lambda a: a.unit_id != to_unit_id)


async def _end_all(session: AsyncSession, person_id: str, reason: str, last_day: date,
                   replaced_last_day: date | None,
                   concerned: Callable[[PrivateUseAgreement], bool]) -> None:
    for agreement in await AgreementRepository(session).of_person(person_id, for_update=True):
        if not concerned(agreement):
            continue
        if agreement.status in rules.OPEN:
            await _finish(session, agreement, reason=reason, last_day=last_day, actor=HR_ACTOR)
        elif (agreement.status == Status.ENDED and agreement.ended_by == HR_ACTOR
              and agreement.end_reason == reason
              and (new_end := rules.corrected_end(
                  agreement.valid_from, agreement.ended_on,
                  replaced_last_day=replaced_last_day, last_day=last_day)) is not None):
            # An HR correction moved the last day (or the move) that ended it: the end follows.
            # One ended by an earlier move or employment keeps its end (rules P1, P2).
            before = _snapshot(agreement)
            agreement.ended_on = new_end
            agreement.version += 1
            await session.flush()
            await _audit(session, HR_ACTOR, "reschedule-end", before, agreement)
            await _announce_end(session, agreement)


# --- reading ---------------------------------------------------------------------------------


async def read(session: AsyncSession, *, actor: User, agreement_id: uuid.UUID
               ) -> PrivateUseAgreement:
    agreement = await AgreementRepository(session).get(agreement_id)
    if agreement is None:
        raise NotFound(f"Private-use agreement {agreement_id} does not exist")
    await _authorised(session, actor, agreement)
    return agreement


async def check_person_listing(session: AsyncSession, user: User, person_id: str) -> None:
    person = await PersonRepository(session).get(person_id)
    parties = await parties_of(session, person_id, person.unit_id) if person else Parties(
        person_id=person_id, managers=frozenset(), head=None)
    if not rules.may_read(user, parties):
        raise Forbidden("Only the employee, their manager, the head of their unit, IT service "
                        "or an auditor may see the employee's agreements")


async def render(session: AsyncSession, agreements: list[PrivateUseAgreement], today: date
                 ) -> list[AgreementOut]:
    terms = await TermsRepository(session).current() \
        if any(a.status == Status.APPROVED for a in agreements) else None
    out = []
    for a in agreements:
        parties = await parties_of(session, a.person_id, a.unit_id)
        shown = TermsOut.model_validate(terms) if terms and a.status == Status.APPROVED else None
        out.append(AgreementOut(
            **{name: getattr(a, name) for name in AgreementOut.model_fields
               if name not in ("in_force", "decider_person_id", "terms_to_sign")},
            in_force=rules.in_force(a.status, a.valid_from, a.ended_on, today),
            decider_person_id=parties.head, terms_to_sign=shown))
    return out


# --- the P3 text ---------------------------------------------------------------------------


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def terms(session: AsyncSession, version: int | None) -> PrivateUseTerms:
    repo = TermsRepository(session)
    found = await repo.current() if version is None else await repo.get(version)
    if found is None:
        raise NotFound(f"There is no version {version} of the P3 text")
    return found


async def publish_terms(session: AsyncSession, *, actor: User, text: str) -> PrivateUseTerms:
    """A new version of the P3 text (the guideline owner, rule R1); unsigned approvals are then
    signed over the new one."""
    await lock(session, "private-use-terms", "all")
    repo = TermsRepository(session)
    current = await repo.current()
    if sha256_of(text) == current.sha256:
        raise Conflict(f"Version {current.version} of the P3 text already says exactly this")
    new = PrivateUseTerms(version=current.version + 1, text=text, sha256=sha256_of(text),
                          published_by=actor.person_id, published_at=datetime.now(UTC))
    await repo.add(new)
    await record_audit(session, actor=actor.person_id, action="private-use.terms",
                       object_type="private-use-terms", object_id=str(new.version),
                       before={"version": current.version, "sha256": current.sha256},
                       after={"version": new.version, "sha256": new.sha256})
    return new
