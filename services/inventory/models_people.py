"""SQLAlchemy tables of what people do with their phones, in the `inventory` schema: support and
repair (rules S1–S5), extensions and their readiness (B4, U1–U3), and the people read model.

Split from models.py by meaning (the register there); same Base.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, Text, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from services.inventory.models import Base


class Person(Base):
    """Lifecycle's employee, from HR's events: unit and nearest manager (rules U1, U7)."""

    __tablename__ = "people"

    person_id: Mapped[str] = mapped_column(Text, primary_key=True)
    unit_id: Mapped[str] = mapped_column(Text)
    nearest_manager_id: Mapped[str | None] = mapped_column(Text)
    last_day: Mapped[date | None] = mapped_column(Date)
    # Events may arrive out of order or twice: only a newer event time overwrites.
    source_event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Extension(Base):
    """rule B4: a fixed or mobile extension, its forwarding (U2) and voicemail (U3) state."""

    __tablename__ = "extensions"

    extension_id: Mapped[str] = mapped_column(Text, primary_key=True)
    number: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    person_id: Mapped[str | None] = mapped_column(Text)
    presence: Mapped[str] = mapped_column(Text)
    forwarding_active: Mapped[bool] = mapped_column(Boolean)
    forwarding_target: Mapped[str | None] = mapped_column(Text)
    voicemail_set_up: Mapped[bool] = mapped_column(Boolean)
    personal_greeting: Mapped[bool] = mapped_column(Boolean)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    report_id: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


class TelephonyReport(Base):
    """A report from the telephony platform; its id makes a re-posted report a no-op."""

    __tablename__ = "telephony_reports"

    report_id: Mapped[str] = mapped_column(Text, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    entries: Mapped[int] = mapped_column(Integer)
    applied: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                   server_default=func.now())


class AppSupport(Base):
    """rule S3: an app's own support — where to turn for how the app works."""

    __tablename__ = "app_support"

    app_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


class SupportCase(Base):
    """A support case and what became of it at once: accepted (S2), routed (S3), refused (S5)."""

    __tablename__ = "support_cases"

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[str] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    device_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    app_id: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    routed_to: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    resolution: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class Repair(Base):
    """A held device in repair (rule S4): the holder confirmed the data-loss warning first."""

    __tablename__ = "repairs"

    repair_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    fault: Mapped[str] = mapped_column(Text)
    holder_person_id: Mapped[str | None] = mapped_column(Text)
    holder_unit_id: Mapped[str | None] = mapped_column(Text)
    unit_id: Mapped[str | None] = mapped_column(Text)
    warning_version: Mapped[str] = mapped_column(Text)
    warning_sha256: Mapped[str] = mapped_column(Text)
    warning_confirmed_by: Mapped[str] = mapped_column(Text)
    warning_confirmed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # in-repair | returned-to-holder | replaced | abandoned (lost or consumed while in repair);
    # CHECK "state" (migrations 0002, 0005), one open per device (uq_repairs_open_device)
    state: Mapped[str] = mapped_column(Text, default="in-repair")
    replacement_device_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    opened_by: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    closed_by: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
