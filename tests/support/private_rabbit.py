"""A throw-away RabbitMQ node of its own (port, node name, data dir) for fault tests.

Follows /work/shared/RECIPES.md. As root, the Debian `rabbitmq-server`/`rabbitmqctl` wrappers
both drop to the `rabbitmq` user (HOME=/var/lib/rabbitmq), so server and CLI share that user's
Erlang cookie and no cookie handling is needed here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.instance import PrivateInstance

_DIST_PORT_OFFSET = 20000  # RabbitMQ convention: inter-node (Erlang distribution) port = port+20000
_READY_TIMEOUT_S = 60


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_free_amqp_port() -> int:
    """A port whose +20000 dist port is free too (both must fit below 65536)."""
    for _ in range(200):
        port = random.randint(10000, 65535 - _DIST_PORT_OFFSET)
        if _port_is_free(port) and _port_is_free(port + _DIST_PORT_OFFSET):
            return port
    raise RuntimeError("no free AMQP/dist port pair found")


def _process_is_gone(pid: int) -> bool:
    # The detached beam is reparented to PID 1, which may not reap it: a zombie counts as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


class PrivateRabbitNode(PrivateInstance):
    def __init__(self) -> None:
        self.port = pick_free_amqp_port()
        self.node_name = f"km{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"kmrabbit{self.port}.", dir="/tmp"))
        self.pid_file = self.data_dir / "pid"
        self._prepare_data_dir()
        self._env = self._build_env()  # handed to our subprocesses only, never to os.environ

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start (or restart after kill/close-less stop) on the same data dir; wait until ready."""
        # A stale pid file from a killed node would make `rabbitmqctl wait` watch a dead pid.
        self.pid_file.unlink(missing_ok=True)
        subprocess.run(
            ["rabbitmq-server", "-detached"],
            env=self._env,
            check=True,
            timeout=30,
            # The detached beam must not inherit our pipes, or run() would wait for it.
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_args = ("wait", str(self.pid_file), "--timeout", str(_READY_TIMEOUT_S))
            self.rabbitmqctl(*wait_args, timeout=_READY_TIMEOUT_S + 15)
        except subprocess.CalledProcessError as err:
            raise RuntimeError(f"{self.node_name} did not start:\n{self._log_tail()}") from err

    def kill(self) -> None:
        """SIGKILL the broker (a crash: clients get no connection.close); wait until it is gone."""
        pid = self.beam_pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self._wait_gone(pid, timeout=30)

    def stop_app(self) -> None:
        self.rabbitmqctl("stop_app")

    def start_app(self) -> None:
        self.rabbitmqctl("start_app")

    def memory_alarm(self, on: bool) -> None:
        """Raise/clear a memory alarm: publishers get blocked (connection.blocked) while on."""
        self.rabbitmqctl("set_vm_memory_high_watermark", "0.0000001" if on else "0.4")

    def close(self) -> None:
        """Stop the node gracefully (kill as fallback) and delete its data dir."""
        pid = self.beam_pid()
        if pid is not None and not _process_is_gone(pid):
            # `stop PIDFILE` returns only once the OS process has exited; kill() is the fallback.
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                self.rabbitmqctl("stop", str(self.pid_file), timeout=60)
            self.kill()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- inspection ----------------------------------------------------------------------------
    def rabbitmqctl(self, *args: str, timeout: float = 60) -> str:
        """Run `rabbitmqctl -n NODE *args`; stdout, or CalledProcessError carrying stderr."""
        cmd = ["rabbitmqctl", "-n", self.node_name, *args]
        done = subprocess.run(
            cmd, env=self._env, capture_output=True, text=True, timeout=timeout, check=True
        )
        return done.stdout

    def list_queues(self) -> dict[str, tuple[int, int]]:
        """{queue name: (messages, consumers)} on the default vhost."""
        out = self.rabbitmqctl(
            "list_queues", "name", "messages", "consumers", "--formatter", "json", "--quiet"
        )
        return {q["name"]: (q["messages"], q["consumers"]) for q in json.loads(out or "[]")}

    def beam_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    # -- async twins: run the blocking calls in a thread so the event loop (and the service
    # under test, which should be reconnecting meanwhile) keeps running ---------------------------
    async def kill_async(self) -> None:
        await asyncio.to_thread(self.kill)

    async def stop_app_async(self) -> None:
        await asyncio.to_thread(self.stop_app)

    async def start_app_async(self) -> None:
        await asyncio.to_thread(self.start_app)

    async def memory_alarm_async(self, on: bool) -> None:
        await asyncio.to_thread(self.memory_alarm, on)

    # -- internals -----------------------------------------------------------------------------
    def _prepare_data_dir(self) -> None:
        d = self.data_dir
        (d / "mnesia").mkdir()
        (d / "log").mkdir()
        (d / "enabled_plugins").write_text("[].\n")
        (d / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        # An empty env file of our own, so /etc/rabbitmq/rabbitmq-env.conf (shared node) is ignored.
        (d / "rabbitmq-env.conf").write_text("")
        # The server runs as `rabbitmq`; it dies with cannot_log_to_file/eacces otherwise.
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(d)], check=True)

    def _build_env(self) -> dict[str, str]:
        d = self.data_dir
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node_name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.port + _DIST_PORT_OFFSET),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            # Keep the Erlang distribution port on loopback, like the shared node does.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def _wait_gone(self, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not _process_is_gone(pid):
            if time.monotonic() > deadline:
                raise TimeoutError(f"beam pid {pid} of {self.node_name} still alive")
            time.sleep(0.05)

    def _log_tail(self, lines: int = 40) -> str:
        log = self.data_dir / "log" / f"{self.node_name}.log"
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return f"(no log at {log})"
