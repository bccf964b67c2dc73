"""The loop of every scheduled background job (shared/runtime.py: repeat_every)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.runtime import repeat_every

log = logging.getLogger("tests.job")


async def test_a_failed_run_is_logged_and_the_next_one_still_comes(
        caplog: pytest.LogCaptureFixture) -> None:
    runs = 0
    three = asyncio.Event()

    async def work() -> None:
        nonlocal runs
        runs += 1
        if runs == 3:
            three.set()
        if runs == 1:
            raise RuntimeError("the database is away")

    job = asyncio.create_task(repeat_every(0.01, work, what="test job", logger=log))
    await asyncio.wait_for(three.wait(), 10)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job  # cancelling stops the job; it is not swallowed like a failed run
    (record,) = [r for r in caplog.records if r.name == "tests.job"]
    assert record.levelno == logging.ERROR
    assert "test job failed; next try in 0 s" in record.getMessage()
    assert record.exc_info is not None and "the database is away" in str(record.exc_info[1])


@pytest.mark.parametrize("wait_first", [False, True])
async def test_the_first_run_comes_at_once_unless_asked_to_wait(wait_first: bool) -> None:
    ran = asyncio.Event()

    async def work() -> None:
        ran.set()

    job = asyncio.create_task(repeat_every(3600, work, what="test job", logger=log,
                                           wait_first=wait_first))
    try:
        await asyncio.wait_for(ran.wait(), 0.5)
        first_came = True
    except TimeoutError:
        first_came = False
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
    assert first_came is not wait_first
