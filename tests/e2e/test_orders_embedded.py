"""The ordering flow on the embedded default, as a person would run it: `kommunmobil up` (embedded
PostgreSQL, in-process events), HR's signed webhooks into lifecycle, then the portal's calls to
orders — the seeded catalogue is there on first start, and an order goes from placed to approved."""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from shared.auth import load_or_create_dev_key, mint_token
from shared.settings import DEV_AUDIENCE, DEV_HR_WEBHOOK_SECRET, DEV_ISSUER
from tests.e2e.processes import KOMMUNMOBIL, clean_env, free_port, wait_until_ready


def hr_event(base: str, event: dict[str, Any]) -> httpx.Response:
    body = json.dumps(event, separators=(",", ":"))
    msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(DEV_HR_WEBHOOK_SECRET).sign(msg_id, now, body),
               "content-type": "application/json"}
    return httpx.post(f"{base}/v1/hr/events", content=body.encode(), headers=headers, timeout=15)


def until(call: Any, ok: Any, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = call()
        if ok(response) or time.monotonic() > deadline:
            return response  # type: ignore[no-any-return]
        time.sleep(0.2)


@pytest.mark.slow
def test_o3_order_to_approval_on_the_embedded_default() -> None:
    ports = {name: free_port() for name in ("orders", "inventory", "lifecycle")}
    with tempfile.TemporaryDirectory(prefix="kmorders", dir="/tmp") as var_dir:
        env = clean_env(KM_VAR_DIR=var_dir, **{f"KM_{n.upper()}_PORT": str(p)
                                               for n, p in ports.items()})
        process = subprocess.Popen([*KOMMUNMOBIL, "up"], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])
        try:
            assert wait_until_ready(list(ports.values()), timeout=90)
            flow(ports, Path(var_dir))
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)


def flow(ports: dict[str, int], var_dir: Path) -> None:
    key = load_or_create_dev_key(var_dir)  # the key `up` created and verifies with

    def as_(person: str, role: str = "employee") -> dict[str, str]:
        token = mint_token(key, subject=person, roles=[role], issuer=DEV_ISSUER,
                           audience=DEV_AUDIENCE)
        return {"Authorization": f"Bearer {token}"}

    orders, lifecycle = (f"http://127.0.0.1:{ports[n]}" for n in ("orders", "lifecycle"))
    unit, head, orderer, employee = "SOC-HT-N", "E20017", "E10001", "E10442"
    for event in (
        {"type": "unit.registered", "timestamp": "2026-01-10T09:00:00+01:00",
         "data": {"unit_id": unit, "name": "Hemtjänst Norr", "administration":
                  "Socialförvaltningen", "cost_centre": "41230", "head_person_id": head}},
        *({"type": "employee.hired", "timestamp": "2026-02-02T08:15:00+01:00",
           "data": {"person_id": p, "unit_id": unit, "start_date": "2026-03-01"}}
          for p in (orderer, employee)),
    ):
        assert hr_event(lifecycle, event).status_code == 200
    catalogue = httpx.get(f"{orders}/v1/catalogue", headers=as_(employee))
    assert {i["tier"] for i in catalogue.json() if i["kind"] == "phone"} == {
        "robust", "simple", "standard", "advanced"}
    appointed = until(lambda: httpx.put(f"{orders}/v1/units/{unit}/orderers/{orderer}",
                                        headers=as_(head, "department-head")),
                      lambda r: r.status_code == 201)
    assert appointed.status_code == 201, appointed.text
    placed = until(lambda: httpx.post(
        f"{orders}/v1/orders", headers=as_(orderer, "orderer") | {"Idempotency-Key": "k-1"},
        json={"unit_id": unit, "recipient_person_id": employee,
              "lines": [{"catalogue_item_id": "phone-standard-iphone-16e"},
                        {"catalogue_item_id": "sub-mobile-5gb"}]}),
        lambda r: r.status_code in (200, 201))
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["cost_centre"] == "41230" and order["approver_person_id"] == head
    assert (order["one_time_total_sek"], order["monthly_total_sek"]) == ("6888.00", "114.00")
    approved = httpx.post(f"{orders}/v1/orders/{order['order_id']}/approve",
                          headers=as_(head, "department-head"), json={})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
