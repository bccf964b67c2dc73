"""SQLAlchemy tables of the `lifecycle` schema only.

What lifecycle owns: the organisation (units) and its people from HR, the HR events received,
return cases with their escalations, loss cases, private-use agreements with the P3 text's
versions (P1, P3), and the versioned policy (B5, R1). Its read models of another service's facts
are `holdings` — who holds which device (rule U7) — and `subscriptions` — which subscription is
on which phone (P1) — kept from inventory's events; lifecycle never reads inventory's tables.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata

SCHEMA = "lifecycle"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


class Unit(Base):
    """A department or unit of an administration; it has a cost centre and a head (rule O2)."""

    __tablename__ = "units"

    unit_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    administration: Mapped[str] = mapped_column(Text)
    parent_unit_id: Mapped[str | None] = mapped_column(Text)
    cost_centre: Mapped[str] = mapped_column(Text)
    head_person_id: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # HR's `timestamp` of the change applied last (or the time of an IT-service edit): an HR
    # event recorded earlier than this arrived late and changes nothing.
    source_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Person(Base):
    """An employee as HR last told us: unit, nearest manager, and the end of employment."""

    __tablename__ = "people"

    person_id: Mapped[str] = mapped_column(Text, primary_key=True)
    unit_id: Mapped[str] = mapped_column(Text)
    nearest_manager_id: Mapped[str | None] = mapped_column(Text)
    start_date: Mapped[date | None] = mapped_column(Date)
    # How the person came to their current unit: "hired" or "transferred" (on `placed_on`), and
    # from where — a device of the previous unit issued after a transfer must still go back.
    placement: Mapped[str] = mapped_column(Text)
    placed_on: Mapped[date | None] = mapped_column(Date)
    previous_unit_id: Mapped[str | None] = mapped_column(Text)
    previous_manager_id: Mapped[str | None] = mapped_column(Text)
    last_day: Mapped[date | None] = mapped_column(Date)  # set: employment ended (rule U7)
    # HR's `timestamp` of the newest HR event applied: the per-person order of HR events.
    hr_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_people_manager", "nearest_manager_id"),
        Index("ix_people_unit", "unit_id"),
    )


class HrEvent(Base):
    """Every HR webhook delivery applied, keyed by its `webhook-id`: the webhook's inbox."""

    __tablename__ = "hr_events"

    webhook_id: Mapped[str] = mapped_column(Text, primary_key=True)
    event_type: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)  # the person or unit it is about
    hr_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    outcome: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_hr_events_subject", "subject", "hr_time"),)


class Holding(Base):
    """Who holds which device, from inventory's device-issued / -returned / -lost events."""

    __tablename__ = "holdings"

    device_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    holder_person_id: Mapped[str | None] = mapped_column(Text)  # None: shared by the unit (U8)
    unit_id: Mapped[str | None] = mapped_column(Text)  # unknown if a device-lost came first
    kind: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)  # issued | returned | lost
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The source time of the newest inventory event applied: older ones arrived late.
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_holdings_holder", "holder_person_id", postgresql_where=text("state = 'issued'")),
    )


class ReturnCase(Base):
    """One device that must come back (rules U7, C2, C3); at most one open case per device."""

    __tablename__ = "return_cases"

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    person_id: Mapped[str | None] = mapped_column(Text)  # the holder; None for a shared device
    unit_id: Mapped[str] = mapped_column(Text)  # the device's unit, which gets it back
    reason: Mapped[str] = mapped_column(Text)
    due_date: Mapped[date] = mapped_column(Date)
    receiver_person_id: Mapped[str | None] = mapped_column(Text)  # None: IT service
    status: Mapped[str] = mapped_column(Text)  # open | completed
    opened_by: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_by: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("uq_return_cases_open_device", "device_id", unique=True,
              postgresql_where=text("status = 'open'")),
        Index("ix_return_cases_receiver", "receiver_person_id", "status"),
        Index("ix_return_cases_person", "person_id", "status"),
        Index("ix_return_cases_unit", "unit_id", "status"),
        Index("ix_return_cases_due", "due_date", postgresql_where=text("status = 'open'")),
    )


class ReturnEscalation(Base):
    """One escalation of an overdue case; the key (case, level) makes the sweep repeatable."""

    __tablename__ = "return_escalations"

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    level: Mapped[int] = mapped_column(Integer)
    days_overdue: Mapped[int] = mapped_column(Integer)
    escalated_to: Mapped[str | None] = mapped_column(Text)
    as_of: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (PrimaryKeyConstraint("case_id", "level"),)


class LossCase(Base):
    """A reported loss (rule U9); at most one open loss per device."""

    __tablename__ = "losses"

    loss_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    person_id: Mapped[str | None] = mapped_column(Text)
    unit_id: Mapped[str] = mapped_column(Text)
    reported_by: Mapped[str] = mapped_column(Text)
    circumstances: Mapped[str] = mapped_column(Text, default="")
    lost_on: Mapped[date | None] = mapped_column(Date)
    instruction_url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)  # open | found
    reported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now())
    sim_blocked: Mapped[bool | None] = mapped_column(Boolean)  # from inventory's device-lost
    mdm_action: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # rule U9's replacement path: the device inventory issued in place of the lost one.
    replacement_device_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    __table_args__ = (
        Index("uq_losses_open_device", "device_id", unique=True,
              postgresql_where=text("status = 'open'")),
        Index("ix_losses_person", "person_id"),
    )


class Subscription(Base):
    """Which subscription is on which device, held by whom: from inventory's
    subscription-activated / -terminated, so a private-use agreement can name it (rule P1)."""

    __tablename__ = "subscriptions"

    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    device_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    holder_person_id: Mapped[str | None] = mapped_column(Text)
    unit_id: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)  # active | terminated
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_subscriptions_device", "device_id"),)


class PrivateUseTerms(Base):
    """The P3 text an employee is shown before signing, versioned: a signature names one."""

    __tablename__ = "private_use_terms"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(Text)
    published_by: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now())


class PrivateUseAgreement(Base):
    """rule P1: requested, decided by the head, signed by the employee (P3), ended."""

    __tablename__ = "private_use_agreements"

    agreement_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[str] = mapped_column(Text)
    unit_id: Mapped[str] = mapped_column(Text)  # the person's unit when requested: its head decides
    device_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # None: all the person's
    status: Mapped[str] = mapped_column(Text)  # requested|approved|refused|active|ended|cancelled
    motivation: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now())
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)  # the reason of a refusal
    terms_version: Mapped[int | None] = mapped_column(Integer)  # the P3 text signed
    terms_sha256: Mapped[str | None] = mapped_column(Text)
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_from: Mapped[date | None] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)  # the last day in force (inclusive)
    end_reason: Mapped[str | None] = mapped_column(Text)
    ended_by: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("uq_private_use_open", "person_id", "device_id", unique=True,
              postgresql_where=text("status IN ('requested', 'approved', 'active')")),
        Index("ix_private_use_person", "person_id"),
        Index("ix_private_use_unit", "unit_id", "status"),
    )


class PolicyChange(Base):
    """rules B5, R1: one version of the policy of one scope; the newest per scope is in force.

    `policy_version` numbers every change of any scope, so it orders policy-changed events.
    """

    __tablename__ = "policy_changes"

    policy_version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    scope: Mapped[str] = mapped_column(Text)  # municipality | administration | unit
    scope_id: Mapped[str | None] = mapped_column(Text)  # None for the municipality
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)  # parameters, or local rules
    reviewed_on: Mapped[date | None] = mapped_column(Date)  # rule R1; municipality only
    note: Mapped[str] = mapped_column(Text, default="")
    changed_by: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_policy_changes_scope", "scope", "scope_id", "policy_version"),)
