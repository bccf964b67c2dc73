"""The inventory service: its spec for the shared frame."""

from __future__ import annotations

from pathlib import Path

from services.inventory.backorders import backorder_job
from services.inventory.handlers import HANDLERS
from services.inventory.readiness import pull_job
from services.inventory.routes import router
from services.inventory.sweep import sweep_job
from shared.runtime import ServiceSpec

SPEC = ServiceSpec(
    name="inventory",
    title="kommunmobil inventory",
    description="The always-current register of every device, SIM and subscription (rule B2).",
    router=router,
    handlers=HANDLERS,
    migrations_dir=Path(__file__).parent / "migrations",
    background_jobs=(sweep_job, pull_job, backorder_job),
)
