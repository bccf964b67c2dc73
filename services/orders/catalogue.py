"""Catalogue use cases (rule O1): IT service manages the standard catalogue. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import domain
from services.orders.models import CatalogueItem
from services.orders.repository import CatalogueRepository
from services.orders.schemas import CatalogueItemCreate, CatalogueItemUpdate, check_kind_fields
from shared.audit import record_audit
from shared.auth import User
from shared.errors import Conflict, NotFound
from shared.events.catalogue import SubscriptionScope

SNAPSHOT_FIELDS = ("item_id", "kind", "name", "description", "tier", "model_id",
                   "accessory_type", "fits_model_ids", "needs_protection", "calls", "sms", "mms",
                   "data_gb", "one_time_price_sek", "monthly_price_sek", "retired_at")


def snapshot(item: CatalogueItem) -> dict[str, Any]:
    """JSON-safe copy for the audit trail."""
    values = {name: getattr(item, name) for name in SNAPSHOT_FIELDS}
    return {k: format(v, ".2f") if isinstance(v, Decimal)
            else v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def to_domain(item: Any) -> domain.Item:
    """From an ORM item or a Core row of catalogue_items (same attribute names)."""
    return domain.Item(
        item_id=item.item_id, kind=item.kind, name=item.name,
        one_time_price_sek=item.one_time_price_sek, monthly_price_sek=item.monthly_price_sek,
        tier=item.tier, model_id=item.model_id, accessory_type=item.accessory_type,
        fits_model_ids=tuple(item.fits_model_ids or ()), needs_protection=item.needs_protection,
        retired=item.retired_at is not None,
        scope=SubscriptionScope(calls=bool(item.calls), sms=bool(item.sms), mms=bool(item.mms),
                                data_gb=item.data_gb or 0) if item.kind == "subscription" else None,
    )


def _columns(data: CatalogueItemUpdate) -> dict[str, Any]:
    values = data.model_dump(exclude={"scope", "item_id", "kind"})
    scope = data.scope
    values.update(calls=scope.calls if scope else None, sms=scope.sms if scope else None,
                  mms=scope.mms if scope else None, data_gb=scope.data_gb if scope else None)
    return values


async def get_item(session: AsyncSession, item_id: str) -> CatalogueItem:
    item = await CatalogueRepository(session).get(item_id)
    if item is None:
        raise NotFound(f"{item_id} is not in the catalogue")
    return item


async def list_items(session: AsyncSession, *, kind: str | None, tier: str | None,
                     include_retired: bool) -> list[CatalogueItem]:
    return list(await CatalogueRepository(session).listing(
        kind=kind, tier=tier, include_retired=include_retired))


async def create_item(session: AsyncSession, *, actor: User, data: CatalogueItemCreate
                      ) -> CatalogueItem:
    catalogue = CatalogueRepository(session)
    if not await catalogue.add({"item_id": data.item_id, "kind": data.kind, **_columns(data)}):
        raise Conflict(f"{data.item_id} is already in the catalogue; change it with PUT")
    item = await get_item(session, data.item_id)
    await record_audit(session, actor=actor.person_id, action="catalogue.create",
                       object_type="catalogue-item", object_id=item.item_id, after=snapshot(item))
    return item


async def update_item(session: AsyncSession, *, actor: User, item_id: str,
                      data: CatalogueItemUpdate) -> CatalogueItem:
    item = await _locked(session, item_id)
    try:
        check_kind_fields(item.kind, data)
    except ValueError as exc:
        raise domain.InvalidRequest(f"{exc} (the item is a {item.kind})") from exc
    before = snapshot(item)
    for name, value in _columns(data).items():
        setattr(item, name, value)
    return await _changed(session, actor, item, before, "catalogue.update")


async def retire_item(session: AsyncSession, *, actor: User, item_id: str) -> CatalogueItem:
    """Retired: no longer orderable; orders that have it keep it (their lines are snapshots)."""
    item = await _locked(session, item_id)
    if item.retired_at is not None:
        return item
    before = snapshot(item)
    item.retired_at = datetime.now(UTC)
    return await _changed(session, actor, item, before, "catalogue.retire")


async def reinstate_item(session: AsyncSession, *, actor: User, item_id: str) -> CatalogueItem:
    item = await _locked(session, item_id)
    if item.retired_at is None:
        return item
    before = snapshot(item)
    item.retired_at = None
    return await _changed(session, actor, item, before, "catalogue.reinstate")


async def _locked(session: AsyncSession, item_id: str) -> CatalogueItem:
    item = await CatalogueRepository(session).get(item_id, for_update=True)
    if item is None:
        raise NotFound(f"{item_id} is not in the catalogue")
    return item


async def _changed(session: AsyncSession, actor: User, item: CatalogueItem,
                   before: dict[str, Any], action: str) -> CatalogueItem:
    after = snapshot(item)
    if after == before:
        return item  # nothing changed: no audit entry, no new version
    item.version += 1
    item.updated_at = datetime.now(UTC)
    await session.flush()
    await record_audit(session, actor=actor.person_id, action=action,
                       object_type="catalogue-item", object_id=item.item_id,
                       before=before, after=after)
    return item
