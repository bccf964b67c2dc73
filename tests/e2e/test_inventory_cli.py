"""`kommunmobil inventory import|sweep` as a real process against the running system's database:
progress on the terminal, line numbers for bad rows, nothing half-imported, the sweep's figures;
the running service's relay publishes what the command wrote to the outbox."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tests.integration.test_inventory_helpers import create_model, imei, outbox, serial
from tests.system import RunningSystem, eventually

KOMMUNMOBIL = [sys.executable, "-m", "shared.cli", "inventory"]


async def _run(system: RunningSystem, *args: str) -> tuple[int, str]:
    engine = system.apps["inventory"].state.runtime.engine
    env = {k: v for k, v in os.environ.items() if not k.startswith("KM_")}
    env["KM_DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    process = await asyncio.create_subprocess_exec(
        *KOMMUNMOBIL, *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, cwd=Path(__file__).parents[2])
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


async def _devices(system: RunningSystem, headers: dict[str, str], model_id: str
                   ) -> list[dict[str, Any]]:
    response = await system.inventory.get("/v1/devices", headers=headers,
                                          params={"model_id": model_id, "limit": 500})
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_csv_import_command_refuses_a_bad_file_whole_and_imports_a_good_one(
        system_inprocess: RunningSystem, token_for: Any, tmp_path: Path) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    model = (await create_model(system, it))["model_id"]
    rows = [f"{serial()},{model},{imei()},14" for _ in range(2500)]
    bad = tmp_path / "bad.csv"
    bad.write_text("serial_number,model_id,imei,os_version\n" + "\n".join(
        [*rows[:10], f"{serial()},{model},123,14", *rows[10:20]]) + "\n")
    code, output = await _run(system, "import", str(bad), "--actor", "it-9")
    assert code == 1, output
    assert "line 12:" in output and "15 digits" in output
    assert await _devices(system, it, model) == []

    good = tmp_path / "good.csv"
    good.write_text("serial_number,model_id,imei,os_version\n" + "\n".join(rows) + "\n")
    code, output = await _run(system, "import", str(good), "--actor", "it-9")
    assert code == 0, output
    assert "imported 2500 devices" in output
    assert "validate" in output and "2500/2500" in output  # the progress display
    page = await _devices(system, it, model)
    assert len(page) == 500 and page[0]["intake_exception"] == "imported from good.csv"
    # The command wrote the events to the outbox; the running service's relay publishes them.
    received = await outbox(system, "inventory.device-received.v1", page[0]["device_id"])
    assert len(received) == 1
    history = (await system.inventory.get(f"/v1/devices/{page[0]['device_id']}/history",
                                          headers=it)).json()
    assert [(h["actor"], h["action"]) for h in history] == [("it-9", "device.import")]


async def test_c1_sweep_command_reports_and_is_idempotent(system_inprocess: RunningSystem,
                                                          token_for: Any, tmp_path: Path
                                                          ) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    ended = (await create_model(system, it, security_updates_end=(
        date.today() - timedelta(days=1)).isoformat()))["model_id"]
    file = tmp_path / "old.csv"
    file.write_text("serial_number,model_id,imei\n" + "\n".join(
        f"{serial()},{ended},{imei()}" for _ in range(3)) + "\n")
    assert (await _run(system, "import", str(file), "--actor", "it-9"))[0] == 0
    code, output = await _run(system, "sweep", "--actor", "it-9")
    assert code == 0, output
    devices = await eventually(lambda: _devices(system, it, ended),
                               lambda ds: all(d["state"] == "consumed" for d in ds))
    assert [d["consumed_reason"] for d in devices] == ["security-updates-ended"] * 3
    code, output = await _run(system, "sweep", "--actor", "it-9")
    assert code == 0 and "consumed 0 devices" in output, output
    for device in devices:
        assert len(await outbox(system, "inventory.device-consumed.v1",
                                device["device_id"])) == 1
