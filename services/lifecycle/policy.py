"""The guideline as a versioned policy (rules B5, R1): read, change, publish. Never commits.

Every change is a new row in `policy_changes` (numbered by `policy_version` across all scopes),
audited, and published as `policy-changed` carrying the whole policy, so orders and inventory
keep it as a read model. Policy changes are serialised on one lock: they are rare, and the
version numbers and the B5 check against the scope above must see each other's result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle import domain_policy as rules_of
from services.lifecycle.domain_policy import Effective
from services.lifecycle.models import PolicyChange
from services.lifecycle.policy_repository import PolicyRepository, UnitPlace
from services.lifecycle.repository import lock
from services.lifecycle.schemas_policy import (
    LocalPolicyOut,
    LocalRulesIn,
    MunicipalPolicyIn,
    MunicipalPolicyOut,
    ReviewIn,
    ReviewOut,
    UnitPolicyOut,
)
from shared.audit import record_audit
from shared.auth import User
from shared.errors import Conflict, NotFound
from shared.events.catalogue import LocalPolicy, LocalRules, PolicyChanged, PolicyParameters
from shared.messaging.outbox import add_event

POLICY_SUBJECT = "policy"


@dataclass(frozen=True)
class PolicyBook:
    """The policy in force: the municipality's newest version and every scope's local rules."""

    municipal: PolicyChange
    parameters: PolicyParameters
    local: dict[tuple[str, str], PolicyChange] = field(default_factory=dict)

    def rules(self, scope: str, scope_id: str) -> LocalRules | None:
        change = self.local.get((scope, scope_id))
        return LocalRules(**change.document) if change is not None else None


async def load_book(session: AsyncSession) -> PolicyBook:
    repo = PolicyRepository(session)
    municipal = await repo.municipal()
    local = {(c.scope, c.scope_id or ""): c for c in await repo.current_local()}
    return PolicyBook(municipal, PolicyParameters(**municipal.document), local)


async def _place(session: AsyncSession, unit_id: str,
                 places: dict[str, UnitPlace] | None) -> UnitPlace | None:
    if places is not None:
        return places.get(unit_id)
    return await PolicyRepository(session).place_of(unit_id)


async def _chain(session: AsyncSession, book: PolicyBook, unit_id: str, *,
                 places: dict[str, UnitPlace] | None = None, include_self: bool = True
                 ) -> tuple[UnitPlace | None, list[tuple[str, str]]]:
    """The scopes whose rules apply to a unit, from the top: its administration, its parent
    units downwards, the unit itself."""
    place = await _place(session, unit_id, places)
    if place is None:
        return None, []
    units: list[str] = [unit_id] if include_self else []
    seen, parent = {unit_id}, place.parent_unit_id
    while parent and parent not in seen:  # HR may one day send a cycle: stop at the repeat
        seen.add(parent)
        units.append(parent)
        above = await _place(session, parent, places)
        parent = above.parent_unit_id if above else None
    scopes = [("administration", place.administration)]
    scopes += [("unit", u) for u in reversed(units)]
    return place, scopes


def _combine(book: PolicyBook, scopes: list[tuple[str, str]]) -> Effective:
    chain = [(rules_of.scope_label(s, i), r) for s, i in scopes
             if (r := book.rules(s, i)) is not None]
    return rules_of.effective(book.parameters, chain)


async def effective_for_unit(session: AsyncSession, unit_id: str, *,
                             book: PolicyBook | None = None,
                             places: dict[str, UnitPlace] | None = None) -> Effective:
    """The policy in effect for a unit; the municipality's for a unit lifecycle does not know."""
    book = book or await load_book(session)
    if not book.local:  # the common case: no local rules anywhere, nothing to look up
        return rules_of.effective(book.parameters, [])
    _, scopes = await _chain(session, book, unit_id, places=places)
    return _combine(book, scopes)


class Resolver:
    """The effective policy per unit, looked up once per unit within one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._book: PolicyBook | None = None
        self._cache: dict[str | None, PolicyParameters] = {}

    async def for_unit(self, unit_id: str | None) -> PolicyParameters:
        if unit_id not in self._cache:
            self._book = self._book or await load_book(self.session)
            if unit_id is None:
                self._cache[unit_id] = self._book.parameters
            else:
                found = await effective_for_unit(self.session, unit_id, book=self._book)
                self._cache[unit_id] = found.parameters
        return self._cache[unit_id]


# --- reading -------------------------------------------------------------------------------


def review(book: PolicyBook, today: date) -> ReviewOut:
    assert book.municipal.reviewed_on is not None
    status = rules_of.review_status(book.municipal.reviewed_on, today)
    return ReviewOut(reviewed_on=status.reviewed_on, review_due_on=status.review_due_on,
                     overdue=status.overdue, days_overdue=status.days_overdue)


def municipal_out(book: PolicyBook, today: date) -> MunicipalPolicyOut:
    change = book.municipal
    assert change.reviewed_on is not None
    return MunicipalPolicyOut(policy_version=change.policy_version, parameters=book.parameters,
                              reviewed_on=change.reviewed_on, review=review(book, today),
                              note=change.note, changed_by=change.changed_by,
                              changed_at=change.changed_at)


def _local_out(book: PolicyBook, scope: str, scope_id: str, effective: Effective
               ) -> LocalPolicyOut:
    change = book.local.get((scope, scope_id))
    return LocalPolicyOut(
        scope=scope,  # type: ignore[arg-type]
        scope_id=scope_id, policy_version=change.policy_version if change else None,
        rules=book.rules(scope, scope_id) or LocalRules(), effective=effective.parameters,
        sources=effective.sources, note=change.note if change else None,
        changed_by=change.changed_by if change else None,
        changed_at=change.changed_at if change else None)


async def administration_policy(session: AsyncSession, administration: str) -> LocalPolicyOut:
    await _check_administration(session, administration)
    book = await load_book(session)
    effective = _combine(book, [("administration", administration)])
    return _local_out(book, "administration", administration, effective)


async def unit_policy(session: AsyncSession, unit_id: str, today: date) -> UnitPolicyOut:
    book = await load_book(session)
    place, scopes = await _chain(session, book, unit_id)
    if place is None:
        raise NotFound(f"Unit {unit_id} is not registered")
    applied = []
    for depth in range(1, len(scopes) + 1):
        scope, scope_id = scopes[depth - 1]
        if book.rules(scope, scope_id) is not None:
            applied.append(_local_out(book, scope, scope_id, _combine(book, scopes[:depth])))
    effective = _combine(book, scopes)
    return UnitPolicyOut(unit_id=unit_id, administration=place.administration,
                         effective=effective.parameters, sources=effective.sources,
                         rules_applied=applied,
                         municipal_version=book.municipal.policy_version,
                         review=review(book, today))


async def local_policies(session: AsyncSession) -> list[LocalPolicyOut]:
    book = await load_book(session)
    places = await PolicyRepository(session).places()
    return [_local_out(book, s, i, await _scope_effective(session, book, s, i, places))
            for (s, i) in sorted(book.local)]


async def _scope_effective(session: AsyncSession, book: PolicyBook, scope: str, scope_id: str,
                           places: dict[str, UnitPlace] | None = None) -> Effective:
    if scope == "administration":
        return _combine(book, [("administration", scope_id)])
    _, scopes = await _chain(session, book, scope_id, places=places)
    return _combine(book, scopes or [("unit", scope_id)])


# --- changing (the guideline owner) ----------------------------------------------------------


async def _next_change(session: AsyncSession, **values: Any) -> PolicyChange:
    repo = PolicyRepository(session)
    change = PolicyChange(policy_version=await repo.latest_version() + 1,
                          changed_at=datetime.now(UTC), **values)
    await repo.add(change)
    return change


def _audit_document(change: PolicyChange) -> dict[str, Any]:
    return {"policy_version": change.policy_version, "scope": change.scope,
            "scope_id": change.scope_id, "document": change.document,
            "reviewed_on": change.reviewed_on.isoformat() if change.reviewed_on else None,
            "note": change.note}


async def _record(session: AsyncSession, actor: User, action: str, before: PolicyChange | None,
                  after: PolicyChange) -> None:
    await record_audit(session, actor=actor.person_id, action=action, object_type="policy",
                       object_id=f"{after.scope}:{after.scope_id or ''}",
                       before=_audit_document(before) if before else None,
                       after=_audit_document(after))
    await publish(session, scope=after.scope, scope_id=after.scope_id,
                  changed_by=actor.person_id)


async def change_municipal(session: AsyncSession, *, actor: User, data: MunicipalPolicyIn,
                           today: date) -> PolicyBook:
    await lock(session, "policy", "all")
    book = await load_book(session)
    if data.based_on_version != book.municipal.policy_version:
        raise Conflict(f"The municipal policy changed since version {data.based_on_version} "
                       f"(it is now version {book.municipal.policy_version}): reload it and "
                       "make the change again", current_version=book.municipal.policy_version)
    parameters = rules_of.normalise_parameters(data.parameters)
    reviewed_on = data.reviewed_on or today
    rules_of.check_review_date(reviewed_on, today=today, last_review=book.municipal.reviewed_on)
    if parameters == book.parameters and reviewed_on == book.municipal.reviewed_on:
        raise Conflict("The municipal policy already says exactly this")
    change = await _next_change(
        session, scope="municipality", scope_id=None,
        document=parameters.model_dump(mode="json"), reviewed_on=reviewed_on, note=data.note,
        changed_by=actor.person_id)
    await _record(session, actor, "policy.change", book.municipal, change)
    return await load_book(session)


async def record_review(session: AsyncSession, *, actor: User, data: ReviewIn, today: date
                        ) -> PolicyBook:
    """rule R1: the guideline reviewed and left as it is: a new version, same parameters."""
    await lock(session, "policy", "all")
    book = await load_book(session)
    reviewed_on = data.reviewed_on or today
    rules_of.check_review_date(reviewed_on, today=today, last_review=book.municipal.reviewed_on)
    change = await _next_change(
        session, scope="municipality", scope_id=None, document=book.municipal.document,
        reviewed_on=reviewed_on, note=data.note, changed_by=actor.person_id)
    await _record(session, actor, "policy.review", book.municipal, change)
    return await load_book(session)


async def _check_administration(session: AsyncSession, administration: str) -> None:
    if not await PolicyRepository(session).administration_exists(administration):
        raise NotFound(f"No registered unit belongs to an administration called "
                       f"{administration!r}")


async def set_local_rules(session: AsyncSession, *, actor: User, scope: str, scope_id: str,
                          data: LocalRulesIn) -> LocalPolicyOut:
    """rule B5: local rules add to the policy above them and never relax it."""
    await lock(session, "policy", "all")
    book = await load_book(session)
    if scope == "administration":
        await _check_administration(session, scope_id)
        above: Effective = _combine(book, [])
    else:
        place, scopes = await _chain(session, book, scope_id, include_self=False)
        if place is None:
            raise NotFound(f"Unit {scope_id} is not registered")
        above = _combine(book, scopes)
    rules = rules_of.normalise_rules(data.rules)
    rules_of.check_local_rules(above.parameters, rules,
                               scope_label=rules_of.scope_label(scope, scope_id),
                               sources=above.sources)
    if rules == book.rules(scope, scope_id):
        raise Conflict(f"The local rules of {rules_of.scope_label(scope, scope_id)} already "
                       "say exactly this")
    change = await _next_change(
        session, scope=scope, scope_id=scope_id,
        document=rules.model_dump(mode="json", exclude_none=True), reviewed_on=None,
        note=data.note, changed_by=actor.person_id)
    await _record(session, actor, "policy.local-rules", book.local.get((scope, scope_id)),
                  change)
    book = await load_book(session)
    return _local_out(book, scope, scope_id,
                      await _scope_effective(session, book, scope, scope_id))


# --- publishing ------------------------------------------------------------------------------


async def publish(session: AsyncSession, *, scope: str, scope_id: str | None,
                  changed_by: str) -> None:
    """policy-changed with the whole policy in force, each local scope's effective included."""
    book = await load_book(session)
    places = await PolicyRepository(session).places()
    local = []
    for (local_scope, local_id), change in sorted(book.local.items()):
        rules = LocalRules(**change.document)
        if rules == LocalRules():
            continue  # no rules left: the scope follows the one above it
        effective = await _scope_effective(session, book, local_scope, local_id, places)
        local.append(LocalPolicy(scope=local_scope,  # type: ignore[arg-type]
                                 scope_id=local_id, policy_version=change.policy_version,
                                 rules=rules, effective=effective.parameters))
    assert book.municipal.reviewed_on is not None
    await add_event(session, PolicyChanged(
        policy_version=await PolicyRepository(session).latest_version(),
        changed_scope=scope,  # type: ignore[arg-type]
        changed_scope_id=scope_id, changed_by=changed_by,
        reviewed_on=book.municipal.reviewed_on, municipal=book.parameters, local=tuple(local),
    ), subject=POLICY_SUBJECT)


async def unit_moved(session: AsyncSession, unit_id: str, *, actor: str) -> None:
    """A unit changed administration or parent: the effective policies published for local
    scopes may have changed with it, so the policy is published again (same policy_version,
    later time) when any local rules exist."""
    await lock(session, "policy", "all")
    book = await load_book(session)
    if not book.local:
        return
    await record_audit(session, actor=actor, action="policy.republish", object_type="policy",
                       object_id=f"unit:{unit_id}",
                       after={"reason": f"unit {unit_id} changed administration or parent"})
    await publish(session, scope="unit", scope_id=unit_id, changed_by=actor)
