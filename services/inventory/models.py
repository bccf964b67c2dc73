"""SQLAlchemy tables of the `inventory` schema only."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Text, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata

SCHEMA = "inventory"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


class Device(Base):
    """A phone, tablet, SIM, accessory or desk phone the municipality owns (rule B1)."""

    __tablename__ = "devices"

    device_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    model_id: Mapped[str] = mapped_column(Text)
    serial_number: Mapped[str] = mapped_column(Text, unique=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    owner: Mapped[str] = mapped_column(Text, default="municipality")
    state: Mapped[str] = mapped_column(Text, default="in-stock")
    # Why a device entered without an order (rule O1: only IT service, only with a reason).
    intake_exception: Mapped[str | None] = mapped_column(Text)
    received_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
