"""The lifecycle service: its spec for the shared frame."""

from __future__ import annotations

from pathlib import Path

from services.lifecycle.handlers import HANDLERS
from services.lifecycle.jobs import overdue_sweep
from services.lifecycle.routes import router
from shared.runtime import ServiceSpec

SPEC = ServiceSpec(
    name="lifecycle",
    title="kommunmobil lifecycle",
    description="The organisation and its employees (HR events over a signed webhook), the "
    "devices each person holds, return cases when employment ends or a person moves (rule U7), "
    "hand-ins (C2, C3), losses (U9), the overdue escalation, private-use agreements (P1, P3) "
    "and the guideline as a versioned policy with stricter local rules (B5, R1).",
    router=router,
    handlers=HANDLERS,
    migrations_dir=Path(__file__).parent / "migrations",
    background_jobs=(overdue_sweep,),
)
