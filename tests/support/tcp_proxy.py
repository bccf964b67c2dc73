"""An asyncio TCP proxy that can simulate a silently dead network.

`freeze()` keeps every TCP connection open but stops moving bytes in both directions, without
sending FIN or RST: the peers only notice through their own timeouts or heartbeats, as with a
cut cable or a dropped NAT entry. `thaw()` resumes forwarding, including bytes held meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib

_CHUNK = 64 * 1024


class SilentDropProxy:
    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self.listen_port: int | None = None
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def frozen(self) -> bool:
        return not self._flowing.is_set()

    async def start(self) -> int:
        """Listen on a free port; returns it (also kept as `.listen_port`)."""
        self._server = await asyncio.start_server(self._on_client, self.listen_host, 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]
        return self.listen_port

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        """Stop listening and abort every proxied connection (RST, the proxy is going away)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> SilentDropProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    # -- internals -----------------------------------------------------------------------------
    async def _on_client(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        # Track the handler task so close() can cancel it (3.11's Server doesn't).
        handler = asyncio.current_task()
        assert handler is not None
        self._tasks.add(handler)
        handler.add_done_callback(self._tasks.discard)
        self._writers.add(client_writer)
        # A connection made while frozen is accepted (the kernel does that anyway) but not
        # connected upstream until thawed, like SYN retransmits over a dead link.
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_writer.transport.abort()
            self._writers.discard(client_writer)
            return
        self._writers.add(up_writer)
        pumps = [
            asyncio.ensure_future(self._pump(client_reader, up_writer)),
            asyncio.ensure_future(self._pump(up_reader, client_writer)),
        ]
        try:
            # Either side ending ends the pair: the services under test never half-close.
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for writer in (client_writer, up_writer):
                writer.close()
                self._writers.discard(writer)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                # While frozen: don't read (the kernel buffers, then the sender's window fills)
                # and don't write a chunk read just before the freeze: nothing gets through.
                await self._flowing.wait()
                data = await reader.read(_CHUNK)
                if not data:
                    return
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
