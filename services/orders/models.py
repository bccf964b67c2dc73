"""SQLAlchemy tables of the `orders` schema only.

Three kinds of table: what orders owns (catalogue, orderers, orders, idempotency keys) and its own
read models of other services' facts, kept from their events (units, people, held devices) —
orders never reads another service's tables.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    DateTime,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata

SCHEMA = "orders"
Money = Numeric(12, 2)


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


# --- read models, from lifecycle's and inventory's events ---------------------------------------


class KnownUnit(Base):
    """Orders' own copy of the organisation, kept current from lifecycle's unit events.

    The order's cost centre is the orderer's unit's (rule O2), and its head approves (rule O3).
    """

    __tablename__ = "known_units"

    unit_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    cost_centre: Mapped[str] = mapped_column(Text)
    head_person_id: Mapped[str | None] = mapped_column(Text)
    administration: Mapped[str | None] = mapped_column(Text)
    parent_unit_id: Mapped[str | None] = mapped_column(Text)
    # Events may arrive out of order or twice: only a newer event time overwrites.
    source_event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    changes: Mapped[int] = mapped_column(Integer, default=0)


class KnownPerson(Base):
    """Who works in which unit, from lifecycle's employee events: a personal order's recipient
    must be a person of the paying unit (rules O2, U8)."""

    __tablename__ = "known_people"

    person_id: Mapped[str] = mapped_column(Text, primary_key=True)
    unit_id: Mapped[str] = mapped_column(Text)
    employed: Mapped[bool] = mapped_column(Boolean)
    source_event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HeldDevice(Base):
    """Who holds which municipal device, from inventory's events: rule U5 (a municipal SIM only
    in a municipal device) and fulfilment (which devices were issued for an order)."""

    __tablename__ = "held_devices"

    device_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str | None] = mapped_column(Text)  # from device-issued or device-received
    holder_person_id: Mapped[str | None] = mapped_column(Text)
    unit_id: Mapped[str | None] = mapped_column(Text)
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    holding_event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_held_devices_person", "holder_person_id", postgresql_where=text("held")),
        Index("ix_held_devices_unit", "unit_id", postgresql_where=text("held")),
    )


class OrderDelivery(Base):
    """A device inventory issued against an order (device-issued carrying the order id)."""

    __tablename__ = "order_deliveries"

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    device_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The subscriptions inventory activated with it (device-issued's subscription_ids)
    subscription_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid),
                                                             server_default="{}")

    __table_args__ = (PrimaryKeyConstraint("order_id", "device_id"),)


# --- what orders owns ---------------------------------------------------------------------------


class CatalogueItem(Base):
    """An item of the standard catalogue (rule O1): phone, tablet, accessory or subscription."""

    __tablename__ = "catalogue_items"

    item_id: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    tier: Mapped[str | None] = mapped_column(Text)  # phones: robust/simple/standard/advanced
    model_id: Mapped[str | None] = mapped_column(Text)
    accessory_type: Mapped[str | None] = mapped_column(Text)
    # Accessories: the device models they fit; empty means any model.
    fits_model_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    # Phones: False when the model needs no screen protector and case (rule U6).
    needs_protection: Mapped[bool] = mapped_column(Boolean, default=True)
    calls: Mapped[bool | None] = mapped_column(Boolean)
    sms: Mapped[bool | None] = mapped_column(Boolean)
    mms: Mapped[bool | None] = mapped_column(Boolean)
    data_gb: Mapped[int | None] = mapped_column(Integer)
    one_time_price_sek: Mapped[Decimal] = mapped_column(Money)
    monthly_price_sek: Mapped[Decimal] = mapped_column(Money)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Orderer(Base):
    """An authorised orderer of a unit, appointed by its head (rule O2). Revoked rows stay."""

    __tablename__ = "orderers"

    unit_id: Mapped[str] = mapped_column(Text)
    person_id: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean)
    appointed_by: Mapped[str] = mapped_column(Text)
    appointed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        PrimaryKeyConstraint("unit_id", "person_id"),
        Index("ix_orderers_person", "person_id", postgresql_where=text("active")),
    )


class Order(Base):
    """An order for one recipient: a person of the unit, or the unit itself (rule U8).

    Lines are a snapshot of the catalogue when the order was placed: a retired or repriced item
    does not change an order that already has it.
    """

    __tablename__ = "orders"

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    unit_id: Mapped[str] = mapped_column(Text)
    cost_centre: Mapped[str] = mapped_column(Text)
    orderer_id: Mapped[str] = mapped_column(Text)
    recipient_person_id: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    justification: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    one_time_total_sek: Mapped[Decimal] = mapped_column(Money)
    monthly_total_sek: Mapped[Decimal] = mapped_column(Money)
    devices_expected: Mapped[int] = mapped_column(Integer)
    need_approved: Mapped[bool | None] = mapped_column(Boolean)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    fulfilled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_orders_created", "created_at", "order_id"),
        Index("ix_orders_unit_created", "unit_id", "created_at", "order_id"),
        Index("ix_orders_recipient", "recipient_person_id", "created_at"),
        Index("ix_orders_orderer", "orderer_id", "created_at"),
    )


class IdempotencyKey(Base):
    """A portal's Idempotency-Key, per caller: the same key returns the same order."""

    __tablename__ = "idempotency_keys"

    caller_id: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    request_hash: Mapped[str] = mapped_column(Text)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (PrimaryKeyConstraint("caller_id", "key"),)
