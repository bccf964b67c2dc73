"""SQLAlchemy tables of usage and costs (rule P2), in the `inventory` schema.

Split from models.py by meaning (the register there, the operator's bill here); same Base.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ARRAY, BigInteger, Date, DateTime, Integer, Numeric, Text, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from services.inventory.models import Base


class PrivateUseAgreement(Base):
    """Lifecycle's private-use agreement (rule P1), as far as the cost split needs it (P2)."""

    __tablename__ = "private_use_agreements"

    agreement_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[str] = mapped_column(Text)
    # None: the agreement covers every subscription the person holds.
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    approved_by: Mapped[str | None] = mapped_column(Text)
    # None while only its end is known (private-use-ended overtook private-use-approved).
    valid_from: Mapped[date | None] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(Text)
    # private-use-ended is re-published when HR corrects the date: the newest event wins.
    end_event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


class UsageImport(Base):
    """One imported usage file; its content hash makes a second import of it a no-op."""

    __tablename__ = "usage_imports"

    import_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    content_sha256: Mapped[str] = mapped_column(Text, unique=True)
    source: Mapped[str] = mapped_column(Text)
    periods: Mapped[list[str]] = mapped_column(ARRAY(Text))
    rows: Mapped[int] = mapped_column(Integer)
    total_sek: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    unit_sek: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    employee_sek: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    flagged_sek: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    flags: Mapped[int] = mapped_column(Integer)
    imported_by: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                   server_default=func.now())


class UsageFlag(Base):
    """Private extras of one subscription and month without an agreement: the head decides."""

    __tablename__ = "usage_flags"

    flag_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    import_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    msisdn: Mapped[str] = mapped_column(Text)
    period: Mapped[date] = mapped_column(Date)
    person_id: Mapped[str | None] = mapped_column(Text)
    unit_id: Mapped[str] = mapped_column(Text)
    cost_centre: Mapped[str] = mapped_column(Text)
    amount_sek: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text, default="open")
    charge_to: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class UsageRecord(Base):
    """One row of the operator's file, matched to its subscription and split (rule P2)."""

    __tablename__ = "usage_records"

    record_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    import_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    line_no: Mapped[int] = mapped_column(Integer)
    msisdn: Mapped[str] = mapped_column(Text)
    period: Mapped[date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(Text)
    amount_sek: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    unit_id: Mapped[str] = mapped_column(Text)
    cost_centre: Mapped[str] = mapped_column(Text)
    person_id: Mapped[str | None] = mapped_column(Text)
    charged_to: Mapped[str] = mapped_column(Text)  # unit | employee | flagged
    agreement_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    flag_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class UsageMonth(Base):
    """A number's month, claimed by the import that charged it (rule P2: never twice)."""

    __tablename__ = "usage_months"

    msisdn: Mapped[str] = mapped_column(Text, primary_key=True)
    period: Mapped[date] = mapped_column(Date, primary_key=True)
    import_id: Mapped[uuid.UUID] = mapped_column(Uuid)
