"""The outside world's simulators behave as the real systems do where inventory relies on it:
an MDM enrols a piece of hardware once (rule B2), an operator moves a number to a new SIM (U9)."""

from __future__ import annotations

import pytest

from services.inventory.ports import MdmDevice, MdmSimulator, NotManaged, OperatorSimulator


async def test_b2_enrolling_the_same_hardware_again_returns_its_enrolment() -> None:
    """A retried import (new device ids, same phones) must not leave a second enrolment."""
    mdm = MdmSimulator()
    first = await mdm.enrol(MdmDevice("d-1", "SN-1", None, "android", "m"))
    again = await mdm.enrol(MdmDevice("d-2", "SN-1", None, "android", "m"))
    other = await mdm.enrol(MdmDevice("d-3", "SN-2", None, "android", "m"))
    assert first == again != other
    assert len(mdm.devices) == 2
    assert mdm.is_managed("d-2") and not mdm.is_managed("d-1")
    await mdm.wipe(first)  # wiped: out of management until enrolled again
    assert not mdm.is_managed("d-2")
    assert await mdm.enrol(MdmDevice("d-2", "SN-1", None, "android", "m")) == first
    assert mdm.is_managed("d-2")


async def test_u9_a_sim_swap_moves_the_number_and_closes_the_old_sim() -> None:
    operator = OperatorSimulator()
    await operator.activate("old", "+46700000001", calls=True, sms=True, mms=False, data_gb=5)
    await operator.block("old")
    await operator.replace_sim("old", "new", "+46700000001")
    assert operator.sims == {"old": "terminated", "new": "active"}
    assert operator.numbers == {"+46700000001": "new"}
    await operator.replace_sim("old", "new", "+46700000001")  # a retry changes nothing
    assert operator.sims == {"old": "terminated", "new": "active"}
    with pytest.raises(NotManaged):
        await operator.replace_sim("new", "old", "+46700000001")  # a closed SIM takes nothing
    # A retry after the register lost the first swap: the number moves on from the SIM that
    # carries it, which is closed.
    await operator.replace_sim("old", "newer", "+46700000001")
    assert (operator.sims["new"], operator.sims["newer"]) == ("terminated", "active")
