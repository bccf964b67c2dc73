"""A connection pool that serves waiting requests in the order they came.

SQLAlchemy's asyncio pool keeps its idle connections in an `asyncio.Queue`, which is not fair: a
connection put back wakes the longest waiter, but a request arriving before that waiter runs takes
the connection instead, and the waiter queues again at the back (cpython#83055; asyncpg's own pool
has the same defect, asyncpg#1247). Once requests outnumber connections, a few of them lose that
race again and again: with 50 clients on 20 connections, GET /v1/orders' p99 was 700–970 ms while
its p50 was 135 ms (docs/performance.md). Here a connection put back goes straight to the longest
waiter, and a request that finds waiters queues behind them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, TypeVar

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty, Full

T = TypeVar("T")


class FairQueue(AsyncAdaptedQueue[T]):
    """First come, first served; the same interface as the queue SQLAlchemy's pool uses."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._items: deque[T] = deque()
        self._waiters: deque[asyncio.Future[T]] = deque()

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._items)

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: T) -> None:
        if self._hand_to_waiter(item):
            return
        if self.full():
            raise Full()  # the pool closes a connection beyond its size
        self._items.append(item)

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # the pool only ever puts without blocking

    def get_nowait(self) -> T:
        if not self._items:
            raise Empty()
        return self._items.pop() if self.use_lifo else self._items.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        if self._items:  # items and waiters never coexist: put() serves waiters first
            return self.get_nowait()
        if not block:
            raise Empty()
        return self.await_(self._wait(timeout))

    def _hand_to_waiter(self, item: T) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return True
        return False

    async def _wait(self, timeout: float | None) -> T:
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Handed over just as this request gave up (timeout, cancellation): pass the
                # connection on, or it would be lost to the pool.
                item = waiter.result()
                if not self._hand_to_waiter(item):
                    self._items.appendleft(item)
            else:
                waiter.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise Empty() from exc
            raise


class FairAsyncPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio pool on a FairQueue (`create_async_engine(poolclass=...)`)."""

    _queue_class: Any = FairQueue
