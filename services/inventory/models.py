"""SQLAlchemy tables of the `inventory` schema only.

The history of every change to a device, SIM or subscription is the audit log of this schema
(`audit_log`, object_type "device" / "sim" / "subscription"): one entry per change, written in
the same transaction as the change, set-based by the consumed sweep (rule C1).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import ARRAY, Boolean, Date, DateTime, Integer, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata

SCHEMA = "inventory"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


class DeviceModel(Base):
    """A phone or tablet model: when its security updates end and how far its OS goes (C1)."""

    __tablename__ = "device_models"

    model_id: Mapped[str] = mapped_column(Text, primary_key=True)
    manufacturer: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    tier: Mapped[str | None] = mapped_column(Text)
    platform: Mapped[str] = mapped_column(Text)
    security_updates_end: Mapped[date] = mapped_column(Date)
    max_os_version: Mapped[str] = mapped_column(Text)
    # The version as integers, so SQL compares 9 < 10 and 17.2 < 17.10 (the sweep is set-based).
    max_os_key: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    catalogue_item_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


class RequiredApp(Base):
    """An app the job needs, and the lowest OS version it installs on (rule C1)."""

    __tablename__ = "required_apps"

    app_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    platform: Mapped[str] = mapped_column(Text)
    min_os_version: Mapped[str] = mapped_column(Text)
    min_os_key: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


class Device(Base):
    """A phone or tablet the municipality owns (rule B1), where it is and who holds it (B2)."""

    __tablename__ = "devices"

    device_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    model_id: Mapped[str] = mapped_column(Text)
    imei: Mapped[str | None] = mapped_column(Text)
    serial_number: Mapped[str] = mapped_column(Text)
    os_version: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(Text, default="municipality")
    state: Mapped[str] = mapped_column(Text, default="in-stock")
    # rule U8: one person (personal) or one unit (shared), never both; a CHECK enforces it too.
    holder_person_id: Mapped[str | None] = mapped_column(Text)
    holder_unit_id: Mapped[str | None] = mapped_column(Text)
    # The unit the device belongs to (pays for it; its head sees it), also for personal devices.
    unit_id: Mapped[str | None] = mapped_column(Text)
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    intake_exception: Mapped[str | None] = mapped_column(Text)
    received_by: Mapped[str] = mapped_column(Text)
    mdm_enrolment_id: Mapped[str | None] = mapped_column(Text)
    wipe_command_id: Mapped[str | None] = mapped_column(Text)
    consumed_reason: Mapped[str | None] = mapped_column(Text)
    consumed_on: Mapped[date | None] = mapped_column(Date)
    open_return_case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    loss_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # rule U9: the device issued in place of this lost one (one replacement per loss).
    replaced_by_device_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    supplier: Mapped[str | None] = mapped_column(Text)
    erasure_confirmation: Mapped[str | None] = mapped_column(Text)
    passcode_set: Mapped[bool | None] = mapped_column(Boolean)
    compliance_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


class Acknowledgement(Base):
    """rule B1: the holder acknowledged the ownership terms when the device was handed over."""

    __tablename__ = "acknowledgements"

    acknowledgement_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    person_id: Mapped[str] = mapped_column(Text)
    terms_version: Mapped[str] = mapped_column(Text)
    terms_sha256: Mapped[str] = mapped_column(Text)
    acknowledged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


class Sim(Base):
    __tablename__ = "sims"

    sim_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    iccid: Mapped[str] = mapped_column(Text, unique=True)
    state: Mapped[str] = mapped_column(Text, default="in-stock")
    received_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


class PhoneNumber(Base):
    __tablename__ = "phone_numbers"

    msisdn: Mapped[str] = mapped_column(Text, primary_key=True)
    state: Mapped[str] = mapped_column(Text, default="free")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


class Subscription(Base):
    """Calls, SMS, MMS and data on a SIM and number; scope as the head decided (rule O3)."""

    __tablename__ = "subscriptions"

    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    plan: Mapped[str] = mapped_column(Text)
    calls: Mapped[bool] = mapped_column(Boolean)
    sms: Mapped[bool] = mapped_column(Boolean)
    mms: Mapped[bool] = mapped_column(Boolean)
    data_gb: Mapped[int] = mapped_column(Integer)
    cost_centre: Mapped[str] = mapped_column(Text)
    unit_id: Mapped[str] = mapped_column(Text)
    holder_person_id: Mapped[str | None] = mapped_column(Text)
    sim_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    msisdn: Mapped[str] = mapped_column(Text)
    device_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    state: Mapped[str] = mapped_column(Text, default="reserved")
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


class FulfilmentOrder(Base):
    """An approved (or cancelled) order as inventory learnt it; the row is the idempotency key."""

    __tablename__ = "fulfilment_orders"

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    state: Mapped[str] = mapped_column(Text)  # approved | cancelled
    unit_id: Mapped[str | None] = mapped_column(Text)
    cost_centre: Mapped[str | None] = mapped_column(Text)
    recipient_person_id: Mapped[str | None] = mapped_column(Text)
    approved_by: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


class FulfilmentLine(Base):
    """One unit of one order line: waits for stock, is reserved, then issued (or released)."""

    __tablename__ = "fulfilment_lines"

    line_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    line_no: Mapped[int] = mapped_column(Integer)
    item_no: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(Text)
    catalogue_item_id: Mapped[str] = mapped_column(Text)
    tier: Mapped[str | None] = mapped_column(Text)
    model_id: Mapped[str | None] = mapped_column(Text)
    calls: Mapped[bool | None] = mapped_column(Boolean)
    sms: Mapped[bool | None] = mapped_column(Boolean)
    mms: Mapped[bool | None] = mapped_column(Boolean)
    data_gb: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(Text)
    device_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


class Unit(Base):
    """Inventory's copy of the organisation from lifecycle's unit events: whose unit a head is."""

    __tablename__ = "units"

    unit_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    parent_unit_id: Mapped[str | None] = mapped_column(Text)
    cost_centre: Mapped[str] = mapped_column(Text)
    head_person_id: Mapped[str | None] = mapped_column(Text)
    # Events may arrive out of order or twice: only a newer event time overwrites.
    source_event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ComplianceReport(Base):
    """A compliance report from the MDM; its id makes a re-posted report a no-op."""

    __tablename__ = "compliance_reports"

    report_id: Mapped[str] = mapped_column(Text, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    entries: Mapped[int] = mapped_column(Integer)
    violations_opened: Mapped[int] = mapped_column(Integer)


class ComplianceFinding(Base):
    """An open (or closed) U4/U5 violation; one open finding per rule and device/SIM."""

    __tablename__ = "compliance_findings"

    finding_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    rule: Mapped[str] = mapped_column(Text)
    device_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    sim_iccid: Mapped[str | None] = mapped_column(Text)
    imei: Mapped[str | None] = mapped_column(Text)
    serial_number: Mapped[str | None] = mapped_column(Text)  # only when there is no IMEI
    detail: Mapped[str] = mapped_column(Text)
    report_id: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PolicySnapshot(Base):
    """Lifecycle's newest policy-changed, whole (rules B5, P2, S1): one row, none until the
    first one arrives."""

    __tablename__ = "policy_snapshot"

    singleton: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=True)
    policy_version: Mapped[int] = mapped_column(Integer)
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    policy: Mapped[dict[str, Any]] = mapped_column(JSONB)
