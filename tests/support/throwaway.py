"""A throwaway database: created empty on a running PostgreSQL, dropped afterwards.

The test session and the benchmarks each work in one of their own, so they never see each
other's data (or a developer's).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from shared.db import asyncpg_dsn


@asynccontextmanager
async def throwaway_database(admin_url: str, prefix: str) -> AsyncIterator[str]:
    """Create `<prefix>_<random>` through `admin_url` (any database on that server) and yield
    its SQLAlchemy URL; drop it afterwards WITH (FORCE), so a connection left open by the code
    under test does not keep it alive."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin = await asyncpg.connect(asyncpg_dsn(admin_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
