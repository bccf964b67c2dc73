"""Alembic, per service: each service's migrations live in `services/<name>/migrations/`, with
the version table in the service's own schema. Replicas starting together serialise on an advisory
lock, so only one of them applies a migration.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(schema: str, migrations_dir: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["schema"] = schema
    config.attributes["database_url"] = database_url
    return config


# Alembic's `op` and `context` are process-global proxies: two upgrades in parallel threads of one
# process (three services under `kommunmobil up`) would run each other's scripts. Across
# processes the advisory lock in run_env() serialises replicas.
_alembic_lock = threading.Lock()


def upgrade_to_head(schema: str, migrations_dir: Path, database_url: str) -> None:
    """Blocking; call from a thread when an event loop is running (env.py runs its own loop)."""
    with _alembic_lock:
        command.upgrade(alembic_config(schema, migrations_dir, database_url), "head")


async def upgrade_to_head_async(schema: str, migrations_dir: Path, database_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, schema, migrations_dir, database_url)


def run_env() -> None:
    """The body of every service's migrations/env.py."""
    from alembic import context

    schema: str = context.config.attributes["schema"]
    url: str = context.config.attributes["database_url"]

    def migrate(connection: Connection) -> None:
        context.configure(
            connection=connection,
            version_table_schema=schema,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                lock_key = f"kommunmobil-migrate-{schema}"
                await connection.execute(
                    text("SELECT pg_advisory_lock(hashtext(:key))"), {"key": lock_key}
                )
                await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                await connection.commit()
                await connection.run_sync(migrate)
                await connection.commit()
                await connection.execute(
                    text("SELECT pg_advisory_unlock(hashtext(:key))"), {"key": lock_key}
                )
        finally:
            await engine.dispose()

    asyncio.run(main())
