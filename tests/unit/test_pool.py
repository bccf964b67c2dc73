"""shared/pool.py: waiting for a database connection is first come, first served."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import Empty, Full

from shared.pool import FairQueue


async def take(queue: FairQueue[str], timeout: float | None = 5.0) -> str:
    # The pool calls the queue from SQLAlchemy's greenlet, as here.
    result: str = await greenlet_spawn(queue.get, True, timeout)
    return result


async def test_a_connection_put_back_goes_to_the_longest_waiter_not_to_a_newcomer() -> None:
    queue: FairQueue[str] = FairQueue(maxsize=1)
    served: list[str] = []

    async def request(name: str) -> None:
        connection = await take(queue)
        served.append(name)
        await asyncio.sleep(0)  # use it
        queue.put_nowait(connection)

    waiting = [asyncio.create_task(request(f"w{i}")) for i in range(5)]
    await asyncio.sleep(0.01)  # all five wait: the only connection is not back yet
    assert served == []

    async def newcomer() -> None:
        queue.put_nowait("c1")  # one request gives its connection back, and in the same
        await request("new")  # step of the event loop another asks for one: it queues last

    await asyncio.gather(*waiting, newcomer())
    # (asyncio.Queue, which SQLAlchemy's pool uses, serves "new" first and "w0" last.)
    assert served == ["w0", "w1", "w2", "w3", "w4", "new"]
    assert queue.qsize() == 1 and queue.get_nowait() == "c1"


async def test_a_waiter_that_times_out_leaves_no_trace_and_the_next_one_is_served() -> None:
    queue: FairQueue[str] = FairQueue(maxsize=1)
    with pytest.raises(Empty):
        await take(queue, timeout=0.01)
    later = asyncio.create_task(take(queue))
    await asyncio.sleep(0.01)
    queue.put_nowait("c1")
    assert await later == "c1"
    assert queue.qsize() == 0


async def test_a_connection_handed_to_a_waiter_cancelled_meanwhile_is_not_lost() -> None:
    queue: FairQueue[str] = FairQueue(maxsize=2)
    first = asyncio.create_task(take(queue))
    second = asyncio.create_task(take(queue))
    await asyncio.sleep(0.01)
    queue.put_nowait("c1")  # handed to `first`, which is cancelled before it runs
    first.cancel()
    assert await second == "c1"  # passed on to the next waiter
    with pytest.raises(asyncio.CancelledError):
        await first
    third = asyncio.create_task(take(queue))
    await asyncio.sleep(0.01)
    queue.put_nowait("c2")
    assert await third == "c2"


async def test_beyond_its_size_the_queue_refuses_so_the_pool_closes_the_connection() -> None:
    queue: FairQueue[str] = FairQueue(maxsize=1)
    queue.put_nowait("c1")
    with pytest.raises(Full):
        queue.put_nowait("c2")
    assert queue.full() and not queue.empty()
    assert queue.get(block=False) == "c1"
    with pytest.raises(Empty):
        queue.get(block=False)
