"""A throwaway database (created empty on a running PostgreSQL) and a throwaway RabbitMQ vhost,
each removed afterwards.

The test session and the benchmarks each work in their own, so they never see each other's data
or queues (or a developer's) and leave nothing behind: a hundred idle quorum queues left by
benchmark runs kept RabbitMQ busy enough to slow every later measurement.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import quote, unquote, urlsplit, urlunsplit

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


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def throwaway_vhost(base_url: str, prefix: str) -> Iterator[str]:
    """Create vhost `<prefix>-<random>` on the local RabbitMQ (through rabbitmqctl), open to the
    user of `base_url`, and yield `base_url` pointing at it; delete it with all its queues
    and exchanges afterwards. A failed delete does not hide an error of the body's."""
    vhost = f"{prefix}-{uuid.uuid4().hex[:10]}"
    parts = urlsplit(base_url)
    _rabbitmqctl("add_vhost", vhost)
    failed = False
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, unquote(parts.username or "guest"),
                     ".*", ".*", ".*")
        yield urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))
    except BaseException:
        failed = True
        raise
    finally:
        try:
            _rabbitmqctl("delete_vhost", vhost)
        except (OSError, subprocess.SubprocessError):
            if not failed:
                raise
