"""SQL of the register: device models, required apps, devices, their history, acknowledgements."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from opentelemetry import trace
from sqlalchemy import Select, Text, cast, exists, func, insert, or_, select, true, union
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.domain import Scope
from services.inventory.models import Acknowledgement, Device, DeviceModel, RequiredApp
from shared.errors import Conflict
from shared.messaging.tables import tables_of


class ModelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, model_id: str, *, for_update: bool = False) -> DeviceModel | None:
        query = select(DeviceModel).where(DeviceModel.model_id == model_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def many(self, model_ids: Sequence[str]) -> dict[str, DeviceModel]:
        rows = await self.session.execute(
            select(DeviceModel).where(DeviceModel.model_id.in_(set(model_ids))))
        return {m.model_id: m for m in rows.scalars()}

    async def add(self, model: DeviceModel | RequiredApp) -> None:
        self.session.add(model)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise Conflict("It was registered at the same moment by another request") from exc

    async def listing(self) -> Sequence[DeviceModel]:
        rows = await self.session.execute(select(DeviceModel).order_by(DeviceModel.model_id))
        return rows.scalars().all()

    async def get_app(self, app_id: str, *, for_update: bool = False) -> RequiredApp | None:
        query = select(RequiredApp).where(RequiredApp.app_id == app_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def apps(self) -> Sequence[RequiredApp]:
        rows = await self.session.execute(select(RequiredApp).order_by(RequiredApp.app_id))
        return rows.scalars().all()

    async def has_catalogue_item(self, catalogue_item_id: str) -> bool:
        query = select(exists().where(DeviceModel.catalogue_item_id == catalogue_item_id))
        return bool((await self.session.execute(query)).scalar())


@dataclass(frozen=True)
class DeviceFilter:
    state: str | None = None
    holder_person_id: str | None = None
    holder_unit_id: str | None = None
    unit_id: str | None = None
    model_id: str | None = None
    kind: str | None = None
    tier: str | None = None
    security_updates_before: date | None = None
    imei: str | None = None
    serial_number: str | None = None
    order_id: uuid.UUID | None = None


def _per_key(query: Select[Any], column: Any, keys: Select[Any], limit: int) -> Select[Any]:
    """One page of ids per key (model, unit): `query` limited to `column = key`, every key."""
    each = keys.subquery("keys")
    page = (query.where(column == each.c.key).order_by(Device.device_id).limit(limit)
            .lateral("page"))
    return select(page.c.device_id).select_from(each.join(page, true()))


@dataclass(frozen=True)
class StockMatch:
    """Which in-stock devices can fill an order line (see fulfilment.reserve_device)."""

    model_id: str | None
    catalogue_item_id: str | None
    kind: str
    tier: str | None


class DeviceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, device_id: uuid.UUID, *, for_update: bool = False) -> Device | None:
        query = select(Device).where(Device.device_id == device_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add(self, device: Device) -> None:
        self.session.add(device)
        await self.session.flush()

    async def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Bulk receipt and CSV import: plain executemany, chunked under the bind limit."""
        try:
            for start in range(0, len(rows), 1000):
                await self.session.execute(insert(Device), list(rows[start:start + 1000]))
        except IntegrityError as exc:
            # Checked before, so only a concurrent registration of the same device gets here.
            raise Conflict("A serial number or IMEI in this delivery was registered at the same "
                           "moment by another request; nothing was registered") from exc

    async def taken(self, *, serials: Sequence[str], imeis: Sequence[str]
                    ) -> tuple[set[str], set[str]]:
        """Which of these serial numbers and IMEIs are already registered."""
        found_serials: set[str] = set()
        found_imeis: set[str] = set()
        for start in range(0, max(len(serials), len(imeis)), 5000):
            chunk_s, chunk_i = serials[start:start + 5000], imeis[start:start + 5000]
            rows = await self.session.execute(
                select(Device.serial_number, Device.imei).where(
                    or_(Device.serial_number.in_(chunk_s), Device.imei.in_(chunk_i))))
            for serial, imei in rows:
                if serial in chunk_s:
                    found_serials.add(serial)
                if imei in chunk_i:
                    found_imeis.add(imei)
        return found_serials, found_imeis

    async def by_identity(self, *, imeis: Sequence[str], serials: Sequence[str]
                          ) -> Sequence[Device]:
        if not imeis and not serials:
            return []
        rows = await self.session.execute(select(Device).where(
            or_(Device.imei.in_(imeis), Device.serial_number.in_(serials))))
        return rows.scalars().all()

    def _filtered(self, where: DeviceFilter) -> Select[tuple[Device]]:
        query = select(Device)
        for column in ("state", "holder_person_id", "holder_unit_id", "unit_id", "model_id",
                       "imei", "serial_number", "order_id"):
            value = getattr(where, column)
            if value is not None:
                query = query.where(getattr(Device, column) == value)
        return query

    @staticmethod
    def _models_matching(where: DeviceFilter) -> Select[tuple[str]] | None:
        """The model ids a kind / tier / security-date filter allows; None: no such filter."""
        conditions = []
        if where.kind is not None:
            conditions.append(DeviceModel.kind == where.kind)
        if where.tier is not None:
            conditions.append(DeviceModel.tier == where.tier)
        if where.security_updates_before is not None:
            conditions.append(DeviceModel.security_updates_end < where.security_updates_before)
        if not conditions:
            return None
        return select(DeviceModel.model_id.label("key")).where(*conditions)

    async def page(self, where: DeviceFilter, scope: Scope, *, after: uuid.UUID | None,
                   limit: int) -> Sequence[Device]:
        """Keyset pagination on device_id: every page costs the same at any depth.

        A caller who sees only some devices (own, a unit's), or a filter on a set of models, is
        served by one index-ordered, limited scan per person / unit / model (LATERAL), merged:
        an OR across columns, or an IN over models, would walk the primary key and filter —
        slow when the set is small in a million devices.
        """
        query = self._filtered(where)
        if after is not None:
            query = query.where(Device.device_id > after)
        models = self._models_matching(where)
        if scope.everything and models is None:
            plain = query.order_by(Device.device_id).limit(limit)
            return (await self.session.execute(plain)).scalars().all()
        ids = query.with_only_columns(Device.device_id)
        if scope.everything:
            assert models is not None
            branches = [_per_key(ids, Device.model_id, models, limit)]
        else:
            if models is not None:
                ids = ids.where(Device.model_id.in_(models.scalar_subquery()))
            own = ids.where(Device.holder_person_id == scope.person_id)
            branches = [select(own.order_by(Device.device_id).limit(limit).subquery())]
            if scope.unit_ids:
                units = select(func.unnest(cast(sorted(scope.unit_ids), ARRAY(Text)))
                               .label("key"))
                branches += [_per_key(ids, Device.unit_id, units, limit),
                             _per_key(ids, Device.holder_unit_id, units, limit)]
        # A device can be a person's and their unit's at once: UNION keeps it once. The page
        # of ids is cut before the rows are read, so only `limit` rows are fetched.
        merged = (union(*branches) if len(branches) > 1 else branches[0]).subquery()
        page = (select(merged.c.device_id).order_by(merged.c.device_id).limit(limit)
                .subquery())
        rows = select(Device).join(page, Device.device_id == page.c.device_id)
        return (await self.session.execute(
            rows.order_by(Device.device_id))).scalars().all()

    async def find_stock(self, match: StockMatch, *, order_id: uuid.UUID, today: date,
                         by_catalogue: bool) -> Device | None:
        """One in-stock device for an order line, locked; never one the sweep is about to
        consume (rule C1). Devices received for this very order come first."""
        model = select(DeviceModel.model_id).where(
            DeviceModel.security_updates_end > today,
            ~exists().where(RequiredApp.platform == DeviceModel.platform,
                            RequiredApp.min_os_key > DeviceModel.max_os_key))
        if match.model_id is not None:
            model = model.where(DeviceModel.model_id == match.model_id)
        elif by_catalogue:
            model = model.where(DeviceModel.catalogue_item_id == match.catalogue_item_id)
        else:
            model = model.where(DeviceModel.kind == match.kind)
            if match.tier is not None:
                model = model.where(DeviceModel.tier == match.tier)
        query = (
            select(Device)
            .where(Device.state == "in-stock", Device.model_id.in_(model.scalar_subquery()))
            .order_by(Device.order_id.is_distinct_from(order_id),
                      Device.order_id.is_not(None),  # one bought for another order last
                      Device.created_at, Device.device_id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def models_in_stock(self) -> list[str]:
        """The models of which at least one device is in stock."""
        rows = await self.session.execute(
            select(Device.model_id).where(Device.state == "in-stock").distinct()
            .order_by(Device.model_id))
        return list(rows.scalars().all())

    async def count_received_for(self, order_id: uuid.UUID) -> int:
        """How many devices were taken in against the order (rule O1)."""
        query = select(func.count()).select_from(Device).where(Device.order_id == order_id)
        return int((await self.session.execute(query)).scalar_one())

    async def count_by_state(self) -> dict[str, int]:
        rows = await self.session.execute(
            select(Device.state, func.count()).group_by(Device.state))
        return {state: count for state, count in rows.tuples()}


class HistoryRepository:
    """A device's (SIM's, subscription's) history is its audit trail: every change, in order."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of(self, object_type: str, object_id: str) -> list[dict[str, Any]]:
        audit = tables_of(self.session).audit_log
        rows = await self.session.execute(
            select(audit.c.occurred_at, audit.c.actor, audit.c.action, audit.c.before,
                   audit.c.after)
            .where(audit.c.object_type == object_type, audit.c.object_id == object_id)
            .order_by(audit.c.id))
        return [dict(row._mapping) for row in rows]

    async def add_many(self, entries: Sequence[dict[str, Any]]) -> None:
        """Audit entries for a bulk change (import), in one executemany; like record_audit,
        each points at the current trace."""
        span = trace.get_current_span().get_span_context()
        trace_id = format(span.trace_id, "032x") if span.is_valid else None
        rows = [{"trace_id": trace_id, **entry} for entry in entries]
        audit = tables_of(self.session).audit_log
        for start in range(0, len(rows), 1000):
            await self.session.execute(insert(audit), rows[start:start + 1000])


class AcknowledgementRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, acknowledgement: Acknowledgement) -> None:
        self.session.add(acknowledgement)
        await self.session.flush()

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """CSV import: the acknowledgements of many devices inserted just before, executemany."""
        for start in range(0, len(rows), 1000):
            await self.session.execute(insert(Acknowledgement), list(rows[start:start + 1000]))

    async def of_device(self, device_id: uuid.UUID) -> Sequence[Acknowledgement]:
        rows = await self.session.execute(
            select(Acknowledgement).where(Acknowledgement.device_id == device_id)
            .order_by(Acknowledgement.recorded_at))
        return rows.scalars().all()
