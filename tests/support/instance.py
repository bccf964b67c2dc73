"""The context-manager protocol shared by the private test instances (PostgreSQL, RabbitMQ)."""

from __future__ import annotations

import asyncio
from typing import Self


class PrivateInstance:
    """Something a test starts and must always stop: `start()` and `close()` do the work."""

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    async def start_async(self) -> None:
        await asyncio.to_thread(self.start)

    async def close_async(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()  # a half-started instance must not outlive the test
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.__enter__)

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close_async()
