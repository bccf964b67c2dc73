"""The orders service: its spec for the shared frame."""

from __future__ import annotations

from pathlib import Path

from services.orders.handlers import HANDLERS
from services.orders.routes import router
from shared.runtime import ServiceSpec

SPEC = ServiceSpec(
    name="orders",
    title="kommunmobil orders",
    description=(
        "The standard catalogue, authorised orderers, and orders approved by the head of the "
        "paying unit (rules O1-O4, B3, U5, U6, U8 of the municipality's guideline for mobile "
        "devices and telephony).\n\n"
        "Every call needs a bearer token. Errors are RFC 9457 problem details "
        "(`application/problem+json`) whose `detail` can be shown to the person as it is, and "
        "whose `rule` names the guideline rule that refused the request. Amounts are SEK "
        "excluding VAT, as decimal strings. See docs/orders.md for the rules and the flow."
    ),
    router=router,
    handlers=HANDLERS,
    migrations_dir=Path(__file__).parent / "migrations",
)
