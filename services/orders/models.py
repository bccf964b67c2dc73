"""SQLAlchemy tables of the `orders` schema only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata

SCHEMA = "orders"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


class KnownUnit(Base):
    """Orders' own copy of the organisation, kept current from lifecycle's unit events.

    The order's cost centre is the orderer's unit's (rule O2), and its head approves (rule O3).
    """

    __tablename__ = "known_units"

    unit_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    cost_centre: Mapped[str] = mapped_column(Text)
    head_person_id: Mapped[str | None] = mapped_column(Text)
    # Events may arrive out of order or twice: only a newer event time overwrites.
    source_event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    changes: Mapped[int] = mapped_column(Integer, default=0)
