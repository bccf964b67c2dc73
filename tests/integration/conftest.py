"""Fixtures of the integration tests that need more than the shared running systems."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.inventory.main import SPEC
from shared.db import make_engine
from shared.migrations import upgrade_to_head_async


@pytest.fixture
async def inventory_sessions(empty_database_url: str
                             ) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a database of the test's own with inventory's schema migrated, as the
    service's are: for races that need two transactions held open, which no HTTP request can
    hold, and that the shared systems' other data would take part in."""
    await upgrade_to_head_async("inventory", SPEC.migrations_dir, empty_database_url)
    engine = make_engine(empty_database_url, application_name="inventory-test")
    yield async_sessionmaker(engine, expire_on_commit=False, autoflush=False,
                             info={"schema": "inventory"})
    await engine.dispose()
