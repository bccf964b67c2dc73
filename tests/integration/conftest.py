"""Fixtures of the integration tests that need more than the shared running systems: sessions
on a database of the test's own with one service's schema migrated, as the service's are — for
races that need two transactions held open, which no HTTP request can hold, and that the shared
systems' other data would take part in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.inventory.main import SPEC as INVENTORY
from services.orders.main import SPEC as ORDERS
from shared.db import make_engine
from shared.migrations import upgrade_to_head_async
from shared.runtime import ServiceSpec


@asynccontextmanager
async def migrated(url: str, spec: ServiceSpec
                   ) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_to_head_async(spec.name, spec.migrations_dir, url)
    engine = make_engine(url, application_name=f"{spec.name}-test")
    yield async_sessionmaker(engine, expire_on_commit=False, autoflush=False,
                             info={"schema": spec.name})
    await engine.dispose()


@pytest.fixture
async def inventory_sessions(empty_database_url: str
                             ) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated(empty_database_url, INVENTORY) as sessions:
        yield sessions


@pytest.fixture
async def orders_sessions(empty_database_url: str
                          ) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated(empty_database_url, ORDERS) as sessions:
        yield sessions
