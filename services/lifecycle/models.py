"""SQLAlchemy tables of the `lifecycle` schema only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, Text, func
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
