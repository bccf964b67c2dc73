"""The run command for real: `kommunmobil up` on the embedded default, and clear start errors."""

from __future__ import annotations

import signal
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import KOMMUNMOBIL, clean_env, free_port, wait_until_ready


@pytest.mark.slow
def test_up_starts_three_ready_services_on_the_embedded_default() -> None:
    ports = {name: free_port() for name in ("orders", "inventory", "lifecycle")}
    with tempfile.TemporaryDirectory(prefix="kmup", dir="/tmp") as var_dir:
        env = clean_env(KM_VAR_DIR=var_dir, **{f"KM_{n.upper()}_PORT": str(p)
                                               for n, p in ports.items()})
        process = subprocess.Popen([*KOMMUNMOBIL, "up"], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])
        try:
            ready = wait_until_ready(ports.values(), timeout=60)
            token = subprocess.run([*KOMMUNMOBIL, "token", "--role", "it-service"], env=env,
                                   capture_output=True, text=True, check=True).stdout.strip()
            created = httpx.post(f"http://127.0.0.1:{ports['lifecycle']}/v1/units",
                                 headers={"Authorization": f"Bearer {token}"},
                                 json={"unit_id": "KS-1", "name": "Kontaktcenter",
                                       "administration": "Kommunledningsförvaltningen",
                                       "cost_centre": "10100"})
        finally:
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=30)[0].decode(errors="replace")
        assert ready, output[-3000:]
        assert created.status_code == 201, created.text
        assert process.returncode == 0, output[-3000:]
        assert "kommunmobil token" in output  # it tells how to get a token
        assert (Path(var_dir) / "pg" / "PG_VERSION").exists()  # data under the var dir




@pytest.mark.parametrize(("variables", "named"), [
    ({"KM_BROKER_URL": "http://not-amqp"}, "KM_BROKER_URL"),
    ({"KM_DATABASE_URL": "mysql://x"}, "KM_DATABASE_URL"),
    ({"KM_ORDERS_PREFETCH": "0"}, "KM_ORDERS_PREFETCH"),
    ({"KM_ENVIRONMENT": "production", "KM_BROKER_URL": "amqp://h/"}, "KM_JWT_JWKS_URL"),
    ({"KM_ORDERS_INBOX_RETENTION_DAYS": "30"}, "KM_ORDERS_INBOX_RETENTION_DAYS"),
    ({"KM_EVENT_LOG_MAX_AGE": "1Y"}, "KM_ORDERS_INBOX_RETENTION_DAYS"),
])
def test_misconfiguration_stops_at_start_naming_the_variable(
    variables: dict[str, str], named: str) -> None:
    result = subprocess.run([*KOMMUNMOBIL, "serve", "orders"], env=clean_env(**variables),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert named in result.stdout + result.stderr


def test_serve_without_a_broker_refuses_to_start() -> None:
    result = subprocess.run([*KOMMUNMOBIL, "serve", "orders"],
                            env=clean_env(KM_DATABASE_URL="postgresql+asyncpg://x@/y"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "KM_BROKER_URL" in result.stderr
