"""The policy's parameters as inventory applies them (rules B5, P2, S1), without a database."""

from __future__ import annotations

import uuid
from datetime import date

from services.inventory.domain_support import channels_from
from services.inventory.domain_usage import allocate, is_private

CONFIGURED = {"portal": "https://portal", "phone": "0370-1", "visit": "Stadshuset"}


def test_p2_without_a_policy_the_guidelines_own_extras_are_private() -> None:
    assert [c for c in ("flat-fee", "domestic-data", "roaming", "international-calls",
                        "premium-services") if is_private(c, None)] == [
        "roaming", "international-calls", "premium-services"]


def test_p2_with_a_policy_its_categories_are_private_and_only_they() -> None:
    private = frozenset({"domestic-data"})
    assert is_private("domestic-data", private) and not is_private("roaming", private)
    assert allocate("roaming", subscription_id=uuid.uuid4(), holder_person_id="p",
                    agreements=[], period=date(2026, 3, 1), private=private).charged_to == "unit"
    assert allocate("domestic-data", subscription_id=uuid.uuid4(), holder_person_id="p",
                    agreements=[], period=date(2026, 3, 1),
                    private=private).charged_to == "flagged"


def test_s1_the_policys_channels_replace_configuration_kind_by_kind() -> None:
    assert channels_from([], CONFIGURED) == CONFIGURED
    assert channels_from([("phone", "0370-2"), ("phone", "0370-3"), ("visit", "Kontaktcenter")],
                         CONFIGURED) == {"portal": "https://portal", "phone": "0370-2 / 0370-3",
                                         "visit": "Kontaktcenter"}
