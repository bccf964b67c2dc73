"""Running `kommunmobil` as a real process, as a person or an outside system would."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterable

import httpx

KOMMUNMOBIL = [sys.executable, "-m", "shared.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any KM_ setting, plus `extra`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KM_")} | extra


def wait_until_ready(ports: Iterable[int], timeout: float) -> bool:
    """True once every port's /readyz answers 200, False after `timeout` seconds."""
    ports = list(ports)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(httpx.get(f"http://127.0.0.1:{p}/readyz", timeout=2).status_code == 200
                   for p in ports):
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False
