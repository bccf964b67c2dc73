"""The orders service: its spec for the shared frame."""

from __future__ import annotations

from pathlib import Path

from services.orders.handlers import HANDLERS
from services.orders.routes import router
from shared.runtime import ServiceSpec

SPEC = ServiceSpec(
    name="orders",
    title="kommunmobil orders",
    description="The standard catalogue, authorised orderers, and orders approved by the head "
    "of the paying unit (rules O1-O4).",
    router=router,
    handlers=HANDLERS,
    migrations_dir=Path(__file__).parent / "migrations",
)
