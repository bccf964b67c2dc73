"""The guideline's policy as inventory applies it (rules B5, P2, S1): a read model of lifecycle's
`policy-changed`, and what the cost split and support answers take from it. Never commits.

Lifecycle owns the policy and publishes it whole on every change; inventory keeps the newest
(the highest `policy_version`; for the same version the later event). Both parameters inventory
uses are municipality-wide (local rules cannot set them, docs/policy.md), so `municipal` is all
it reads. Until the first policy-changed arrives, the constants and settings apply: the private
costs marked "extra" in domain_usage.CATEGORIES (P2) and KM_INVENTORY_SUPPORT_* (S1) — both what
the guideline says.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.domain_support import channels_from
from services.inventory.repository import PolicyRepository
from services.inventory.support_schemas import ChannelsOut
from shared.events.catalogue import PolicyChanged
from shared.settings import InventorySettings, load


async def on_policy_changed(session: AsyncSession, event: PolicyChanged,
                            event_time: datetime) -> None:
    """Keep the newest; a redelivered or overtaken policy-changed changes nothing (rule B5)."""
    await PolicyRepository(session).keep_newest(event, event_time)


async def private_cost_categories(session: AsyncSession) -> frozenset[str] | None:
    """rule P2: the usage categories the employee pays; None until a policy has arrived."""
    policy = await PolicyRepository(session).latest()
    return None if policy is None else frozenset(policy.municipal.private_cost_categories)


@lru_cache(maxsize=1)
def configured_channels() -> dict[str, str]:
    settings = load(InventorySettings)
    return {"portal": settings.support_portal_url, "phone": settings.support_phone,
            "visit": settings.support_visit}


async def support_channels(session: AsyncSession) -> ChannelsOut:
    """rule S1: the policy's support channels; configuration until a policy has arrived, and
    for a kind the policy does not name."""
    policy = await PolicyRepository(session).latest()
    listed = () if policy is None else [(c.kind, c.value)
                                        for c in policy.municipal.support_channels]
    return ChannelsOut(**channels_from(listed, configured_channels()))
