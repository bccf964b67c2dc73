"""HR's webhook on the embedded default (`kommunmobil up`: embedded PostgreSQL, in-process
transport), as an HR system outside the process would use it (rule U7's starting point)."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import KOMMUNMOBIL, clean_env, free_port, wait_until_ready
from tests.lifecycle_helpers import hr_body, signed


def send(base: str, event_type: str, data: dict[str, object], webhook_id: str
         ) -> httpx.Response:
    body = hr_body(event_type, data)
    return httpx.post(f"{base}/v1/hr/events", content=body,
                      headers=signed(body, webhook_id=webhook_id), timeout=10)


@pytest.mark.slow
def test_u7_hr_events_apply_once_on_the_embedded_default() -> None:
    ports = {name: free_port() for name in ("orders", "inventory", "lifecycle")}
    with tempfile.TemporaryDirectory(prefix="kmlc", dir="/tmp") as var_dir:
        env = clean_env(KM_VAR_DIR=var_dir, **{f"KM_{n.upper()}_PORT": str(p)
                                               for n, p in ports.items()})
        process = subprocess.Popen([*KOMMUNMOBIL, "up"], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])
        base = f"http://127.0.0.1:{ports['lifecycle']}"
        try:
            assert wait_until_ready(ports.values(), timeout=90)
            token = subprocess.run([*KOMMUNMOBIL, "token", "--sub", "it-1", "--role",
                                    "it-service"], env=env, capture_output=True, text=True,
                                   check=True).stdout.strip()
            auth = {"Authorization": f"Bearer {token}"}
            unit = send(base, "unit.registered", {
                "unit_id": "SOC-HT", "name": "Hemtjänst", "administration": "Socialförv.",
                "cost_centre": "41230", "head_person_id": "H-1"}, "msg-unit")
            hired = send(base, "employee.hired", {"person_id": "E1", "unit_id": "SOC-HT",
                                                  "nearest_manager_id": "M-1",
                                                  "start_date": "2024-01-01"}, "msg-hire")
            ended = send(base, "employment.ended", {"person_id": "E1", "unit_id": "SOC-HT",
                                                    "last_day": date.today().isoformat()},
                         "msg-end")
            again = send(base, "employment.ended", {"person_id": "E1", "unit_id": "SOC-HT",
                                                    "last_day": date.today().isoformat()},
                         "msg-end")
            person = httpx.get(f"{base}/v1/people/E1", headers=auth)
            orders_unit = None
            for _ in range(50):  # orders learns the unit through the in-process transport
                orders_unit = httpx.get(f"http://127.0.0.1:{ports['orders']}/v1/units/SOC-HT",
                                        headers=auth)
                if orders_unit.status_code == 200:
                    break
                time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=30)[0].decode(errors="replace")
    for response in (unit, hired, ended):
        assert response.status_code == 200, (response.text, output[-2000:])
        assert response.json()["outcome"] == "applied"
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert person.json()["last_day"] == date.today().isoformat()
    assert person.json()["nearest_manager_id"] == "M-1"
    assert orders_unit is not None and orders_unit.status_code == 200, orders_unit
