"""The guideline's policy as orders enforces it (rules B5, O4): a read model of lifecycle's
`policy-changed`, and the check every order line passes when the order is placed.

Lifecycle owns the policy and publishes it whole on every change. Orders keeps the newest (the
highest `policy_version`; for the same version the later event, since lifecycle publishes a
version again when a unit moves) and resolves a unit's policy as the event documents: the unit's
own local entry, then its parents', then its administration's, else the municipality's. Until
the first policy-changed arrives, the catalogue's own O4 rule (advanced needs a justification)
is all there is, which is also what the municipal policy says.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, tuple_
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from services.orders.domain import Line
from services.orders.models import SCHEMA, Base
from shared.db import Db, driver
from shared.errors import RuleViolation
from shared.events.catalogue import PolicyChanged, PolicyParameters


class PolicySnapshot(Base):
    """The newest policy-changed: one row."""

    __tablename__ = "policy_snapshot"

    singleton: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=True)
    policy_version: Mapped[int] = mapped_column(Integer)
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    policy: Mapped[dict[str, Any]] = mapped_column(JSONB)


# --- rules, as plain functions -------------------------------------------------------------


def resolve(policy: PolicyChanged, units: Sequence[str], administration: str | None
            ) -> tuple[PolicyParameters, str]:
    """The policy in effect for the first of `units` (the unit, then its parents upwards), and
    where it comes from."""
    entries = {(e.scope, e.scope_id): e for e in policy.local}
    for unit_id in units:
        if (entry := entries.get(("unit", unit_id))) is not None:
            return entry.effective, f"unit {unit_id}"
    if administration and (entry := entries.get(("administration", administration))):
        return entry.effective, f"administration {administration}"
    return policy.municipal, "the municipality"


def check_lines(lines: Sequence[Line], justification: str | None, effective: PolicyParameters,
                *, unit_id: str, source: str) -> None:
    """rules B5, O4: a phone tier the policy in effect does not offer is refused, and a tier it
    requires a justification for needs one."""
    where = f"the guideline in effect for unit {unit_id} (local rules of {source} add to the " \
        "municipality's, rule B5)" if source != "the municipality" else \
        "the municipality's guideline"
    for line in lines:
        tier = line.item.tier
        if line.item.kind != "phone" or tier is None:
            continue
        if tier not in effective.tiers_on_offer:
            offered = ", ".join(effective.tiers_on_offer) or "no phone tier"
            raise RuleViolation(f"{line.item.name} is a {tier}-tier phone, which {where} does "
                                f"not offer; it offers {offered} (rules B5, O4).", rule="B5")
        if tier in effective.tiers_requiring_justification and not (justification or "").strip():
            raise RuleViolation(f"{line.item.name} is a {tier}-tier phone: {where} requires a "
                                "written justification of the need in `justification` "
                                "(rules B5, O4).", rule="B5")


# --- the read model and the check in the placing path -------------------------------------


async def apply_policy_changed(session: AsyncSession, event: PolicyChanged,
                               event_time: datetime) -> None:
    """Keep the newest; a redelivered or overtaken policy-changed changes nothing."""
    statement = insert(PolicySnapshot).values(
        singleton=True, policy_version=event.policy_version, event_time=event_time,
        policy=event.model_dump(mode="json"))
    await session.execute(statement.on_conflict_do_update(
        index_elements=[PolicySnapshot.singleton],
        set_={"policy_version": statement.excluded.policy_version,
              "event_time": statement.excluded.event_time, "policy": statement.excluded.policy},
        where=tuple_(PolicySnapshot.policy_version, PolicySnapshot.event_time)
        < tuple_(statement.excluded.policy_version, statement.excluded.event_time)))


# The unit and its parents upwards, as orders knows them; a cycle in the parents ends the walk.
CHAIN = (
    "WITH RECURSIVE chain (unit_id, parent_unit_id, administration, depth, seen) AS ("
    "SELECT unit_id, parent_unit_id, administration, 1, ARRAY[unit_id] "
    f"FROM {SCHEMA}.known_units WHERE unit_id = $1 "
    "UNION ALL SELECT k.unit_id, k.parent_unit_id, k.administration, c.depth + 1, "
    f"c.seen || k.unit_id FROM {SCHEMA}.known_units k "
    "JOIN chain c ON k.unit_id = c.parent_unit_id WHERE k.unit_id <> ALL(c.seen)) "
    "SELECT unit_id, parent_unit_id, administration FROM chain ORDER BY depth")


async def units_upwards(db: Db, unit_id: str) -> tuple[list[str], str | None]:
    """The unit and its parents upwards, and the unit's administration, in one statement. A
    parent orders has not learnt of yet still counts (its local rules may be known)."""
    rows = await (await driver(db)).fetch(CHAIN, unit_id)
    if not rows:
        return [unit_id], None
    units = [row[0] for row in rows]
    last_parent = rows[-1][1]
    if last_parent and last_parent not in units:
        units.append(last_parent)
    return units, rows[0][2]


async def check_order(db: Db, snapshot: dict[str, Any] | None, unit_id: str,
                      lines: Sequence[Line], justification: str | None) -> None:
    """`snapshot`: the newest policy-changed's data, read with the order's context
    (repository.OrderPlacement.context)."""
    if snapshot is None:
        return  # no policy-changed yet: the municipal defaults, which domain.py already applies
    policy = PolicyChanged.model_validate(snapshot)
    units, administration = await units_upwards(db, unit_id)
    effective, source = resolve(policy, units, administration)
    check_lines(lines, justification, effective, unit_id=unit_id, source=source)
