"""Helpers every inventory use case shares: the municipality's date and a device's history."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory import domain
from services.inventory.models import Device
from shared.audit import record_audit

SYSTEM = "inventory"  # the actor of changes an event caused; the entry names the event


def municipal_zone() -> tzinfo:
    """The municipality's clock, Europe/Stockholm."""
    try:
        return ZoneInfo("Europe/Stockholm")
    except ZoneInfoNotFoundError:  # an image without tzdata: UTC is at most two hours late
        return UTC


def today() -> date:
    """The municipality's date: C1's "security updates ended" turns at Swedish midnight."""
    return datetime.now(municipal_zone()).date()


def snapshot(device: Device) -> dict[str, Any]:
    """What a history entry shows of a device before and after a change."""
    return {"state": device.state, "holder_person_id": device.holder_person_id,
            "holder_unit_id": device.holder_unit_id, "unit_id": device.unit_id}


async def audit_device(session: AsyncSession, actor: str, action: str, device: Device,
                       before: dict[str, Any] | None, **extra: Any) -> None:
    """One history entry of a device: its audit entry, in the same transaction as the change."""
    await record_audit(session, actor=actor, action=action, object_type="device",
                       object_id=str(device.device_id), before=before,
                       after=snapshot(device) | extra)


def holder_of(device: Device) -> domain.Holder | None:
    """rule U8: who holds the device (for a lost one: who held it), or None."""
    if device.holder_person_id is None and device.holder_unit_id is None:
        return None
    return domain.Holder(device.holder_person_id, device.holder_unit_id)


def touch(device: Device) -> None:
    device.version += 1
    device.updated_at = datetime.now(UTC)
