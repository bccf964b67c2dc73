"""The lifecycle service: its spec for the shared frame."""

from __future__ import annotations

from pathlib import Path

from services.lifecycle.handlers import HANDLERS
from services.lifecycle.routes import router
from shared.runtime import ServiceSpec

SPEC = ServiceSpec(
    name="lifecycle",
    title="kommunmobil lifecycle",
    description="The organisation and its employees (HR events), returns, losses, private use.",
    router=router,
    handlers=HANDLERS,
    migrations_dir=Path(__file__).parent / "migrations",
)
