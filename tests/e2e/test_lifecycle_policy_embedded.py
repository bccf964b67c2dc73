"""The versioned policy on the embedded default (`kommunmobil up`: embedded PostgreSQL, in-process
transport): a fresh system reports the guideline's review overdue (R1), and a unit's local rule
set in lifecycle is enforced by orders (B5)."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import KOMMUNMOBIL, clean_env, free_port, wait_until_ready
from tests.e2e.test_lifecycle_embedded import send


def token(env: dict[str, str], sub: str, role: str) -> dict[str, str]:
    minted = subprocess.run([*KOMMUNMOBIL, "token", "--sub", sub, "--role", role], env=env,
                            capture_output=True, text=True, check=True).stdout.strip()
    return {"Authorization": f"Bearer {minted}"}


def until(probe: Any, ok: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    result = probe()
    while not ok(result) and time.monotonic() < deadline:
        time.sleep(0.2)
        result = probe()
    return result


@pytest.mark.slow
def test_r1_b5_the_policy_on_the_embedded_default() -> None:
    ports = {name: free_port() for name in ("orders", "inventory", "lifecycle")}
    with tempfile.TemporaryDirectory(prefix="kmpo", dir="/tmp") as var_dir:
        env = clean_env(KM_VAR_DIR=var_dir, **{f"KM_{n.upper()}_PORT": str(p)
                                               for n, p in ports.items()})
        process = subprocess.Popen([*KOMMUNMOBIL, "up"], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])
        lifecycle = f"http://127.0.0.1:{ports['lifecycle']}"
        orders = f"http://127.0.0.1:{ports['orders']}"
        try:
            assert wait_until_ready(ports.values(), timeout=90)
            owner, head = token(env, "go-1", "guideline-owner"), token(env, "H-1",
                                                                         "department-head")
            review = httpx.get(f"{lifecycle}/v1/policy/review", headers=owner).json()
            send(lifecycle, "unit.registered", {
                "unit_id": "SOC-HT", "name": "Hemtjänst", "administration": "Socialförv.",
                "cost_centre": "41230", "head_person_id": "H-1"}, "msg-unit")
            for person in ("O-1", "E-1"):
                send(lifecycle, "employee.hired", {"person_id": person, "unit_id": "SOC-HT",
                                                   "start_date": "2024-01-01"}, f"msg-{person}")
            rules = httpx.put(f"{lifecycle}/v1/policy/units/SOC-HT", headers=owner, json={
                "rules": {"tiers_on_offer": ["robust", "simple", "standard"]},
                "note": "Hemtjänst orders no advanced phones"})
            appointed = until(lambda: httpx.put(f"{orders}/v1/units/SOC-HT/orderers/O-1",
                                                headers=head),
                              lambda r: r.status_code in (200, 201))
            order = {"unit_id": "SOC-HT", "recipient_person_id": "E-1",
                     "justification": "Field documentation",
                     "lines": [{"catalogue_item_id": "phone-advanced-iphone-16-pro"}]}
            orderer = token(env, "O-1", "orderer")
            refused = until(lambda: httpx.post(f"{orders}/v1/orders", headers=orderer,
                                               json=order),
                            # until orders has the unit, the people and the policy
                            lambda r: r.status_code == 422 and r.json().get("rule") == "B5")
        finally:
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=30)[0].decode(errors="replace")
    assert review["reviewed_on"] == "2020-10-22" and review["overdue"] is True, review
    assert rules.status_code == 200, (rules.text, output[-2000:])
    assert appointed.status_code in (200, 201), (appointed.text, output[-2000:])
    assert refused.status_code == 422 and refused.json()["rule"] == "B5", refused.text
