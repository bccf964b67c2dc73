"""`kommunmobil inventory usage-import FILE` as a real process against the running system's
database (rule P2): a progress bar, every bad row with its line number and nothing imported, a
good file split, the same file again a no-op; the running service's relay publishes the events."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.e2e.test_inventory_cli import _run
from tests.integration.test_inventory_duties_helpers import (
    issued_phone,
    label,
    suffix,
    this_month,
)
from tests.integration.test_inventory_helpers import outbox
from tests.system import RunningSystem, eventually


async def test_p2_usage_import_command_refuses_a_bad_file_and_imports_a_good_one_once(
        system_inprocess: RunningSystem, token_for: Any, tmp_path: Path) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    person, cost_centre = f"p-{suffix()}", f"CL{suffix()}"
    phone = await issued_phone(system, it, person=person, unit_id=f"U-{suffix()}",
                               cost_centre=cost_centre)
    month = label(this_month())
    rows = [f"{phone['msisdn']},{month},flat-fee,149.00",
            f"{phone['msisdn']},{month},roaming,12.50"]
    bad = tmp_path / "bad.csv"
    bad.write_text("number,period,category,amount_sek\n" + "\n".join(
        [*rows, f"{phone['msisdn']},{month},lottery,1"]) + "\n")
    code, output = await _run(system, "usage-import", str(bad), "--actor", "it-9")
    assert code == 1, output
    assert "line 4:" in output and "lottery" in output

    good = tmp_path / "operator-2026.csv"
    good.write_text("number,period,category,amount_sek\n" + "\n".join(rows) + "\n")
    code, output = await _run(system, "usage-import", str(good), "--actor", "it-9")
    assert code == 0, output
    assert "imported 2 usage rows" in output and "12.50 SEK flagged in 1 flags" in output
    assert "validate" in output and "2/2" in output  # the progress display
    statement = await system.inventory.get(f"/v1/statements/cost-centres/{cost_centre}",
                                           params={"period": month}, headers=it)
    totals = statement.json()["totals"]
    assert Decimal(totals["unit_sek"]) == Decimal("149.00")
    assert Decimal(totals["flagged_sek"]) == Decimal("12.50")

    code, output = await _run(system, "usage-import", str(good), "--actor", "it-9")
    assert code == 0 and "imported before" in output, output
    imported = await eventually(
        lambda: outbox(system, "inventory.usage-imported.v1"),
        lambda events: any(e["data"]["source"] == good.name for e in events))
    assert len([e for e in imported if e["data"]["source"] == good.name]) == 1
