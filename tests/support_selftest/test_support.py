"""Proves the fault-test helpers in tests/support do what they promise.

Run: python -m pytest tests/support_selftest -q -p no:cacheprovider --noconftest -m slow
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import aio_pika
import asyncpg
import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import PrivatePostgres, PrivateRabbitNode, SilentDropProxy

pytestmark = pytest.mark.slow


def _timed(label: str, started: float) -> float:
    # Shown with `pytest -s`; the numbers feed the timing notes in the helpers' docs.
    print(f"{label}: {time.monotonic() - started:.2f}s")
    return time.monotonic()


async def _roundtrip(url: str, queue_name: str) -> None:
    connection = await aio_pika.connect(url, timeout=5)
    async with connection:
        channel = await connection.channel()  # publisher confirms: on, aio-pika's default
        # A quorum queue, as the services use: it confirms a publish once its log is on disk. A
        # classic queue's confirmed message was once missing after the SIGKILL below (its index
        # journal not yet written out), which made this self-test flaky.
        queue = await channel.declare_queue(queue_name, durable=True,
                                            arguments={"x-queue-type": "quorum"})
        await channel.default_exchange.publish(
            aio_pika.Message(b"hi", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=queue_name,
        )
        await queue.declare()  # re-declare refreshes the message count


async def _queues_become(rabbit: PrivateRabbitNode, expected: dict[str, tuple[int, int]]
                         ) -> dict[str, tuple[int, int]]:
    """A quorum queue's message count is reported a moment after the confirm: poll for it."""
    deadline = time.monotonic() + 15
    while (seen := rabbit.list_queues()) != expected and time.monotonic() < deadline:  # noqa: ASYNC110 - polls rabbitmqctl
        await asyncio.sleep(0.2)
    return seen


@pytest.mark.asyncio
async def test_private_rabbit_node_survives_kill_and_restart() -> None:
    t = time.monotonic()
    async with PrivateRabbitNode() as rabbit:
        t = _timed("rabbit start", t)
        assert rabbit.port != 5672
        await _roundtrip(rabbit.url, "selftest")
        assert await _queues_become(rabbit, {"selftest": (1, 0)}) == {"selftest": (1, 0)}

        await rabbit.kill_async()
        t = _timed("rabbit kill", t)
        assert rabbit.beam_pid() is not None
        with pytest.raises((ConnectionError, aio_pika.exceptions.AMQPConnectionError)):
            await aio_pika.connect(rabbit.url, timeout=5)

        await rabbit.start_async()
        t = _timed("rabbit restart after kill", t)
        await _roundtrip(rabbit.url, "selftest")
        # Durable queue with persistent messages survived the SIGKILL on the same data dir.
        assert await _queues_become(rabbit, {"selftest": (2, 0)}) == {"selftest": (2, 0)}

        await rabbit.stop_app_async()
        with pytest.raises((ConnectionError, aio_pika.exceptions.AMQPConnectionError)):
            await aio_pika.connect(rabbit.url, timeout=5)
        await rabbit.start_app_async()
        t = _timed("rabbit stop_app+start_app", t)
        await _roundtrip(rabbit.url, "selftest")

        await rabbit.memory_alarm_async(True)
        assert "memory" in rabbit.rabbitmqctl("eval", "rabbit_alarm:get_alarms().")
        await rabbit.memory_alarm_async(False)
        assert "memory" not in rabbit.rabbitmqctl("eval", "rabbit_alarm:get_alarms().")
        data_dir = rabbit.data_dir
    _timed("rabbit close", t)
    assert not data_dir.exists()


@pytest.mark.asyncio
async def test_private_postgres_stop_and_start() -> None:
    t = time.monotonic()
    async with PrivatePostgres() as pg:
        t = _timed("postgres start", t)
        assert len(f"{pg.socket_dir}/.s.PGSQL.5432") < 107
        conn = await asyncpg.connect(pg.asyncpg_dsn, timeout=5)
        assert await conn.fetchval("select 1") == 1

        await pg.stop_async()
        t = _timed("postgres stop", t)
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            await conn.fetchval("select 1")
        with pytest.raises((asyncpg.PostgresError, OSError)):
            await asyncpg.connect(pg.asyncpg_dsn, timeout=5)

        await pg.start_async()
        t = _timed("postgres restart", t)
        conn = await asyncpg.connect(pg.asyncpg_dsn, timeout=5)
        assert await conn.fetchval("select 1") == 1
        await conn.close()

        engine = create_async_engine(pg.sqlalchemy_url)
        async with engine.connect() as sa_conn:
            assert (await sa_conn.execute(sqlalchemy.text("select 1"))).scalar() == 1
        await engine.dispose()

        await pg.stop_async("immediate")  # crash-like; next start runs crash recovery
        await pg.start_async()
        t = _timed("postgres immediate stop + restart", t)
        conn = await asyncpg.connect(pg.asyncpg_dsn, timeout=5)
        assert await conn.fetchval("select 1") == 1
        await conn.close()
        data_dir = pg.data_dir
    _timed("postgres close", t)
    assert not data_dir.exists()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.mark.asyncio
async def test_silent_drop_proxy_forwards_then_goes_silent() -> None:
    echo_server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    echo_port = echo_server.sockets[0].getsockname()[1]
    async with echo_server, SilentDropProxy("127.0.0.1", echo_port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.listen_port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 2) == b"ping"

        proxy.freeze()
        writer.write(b"lost?")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.readexactly(5), 0.5)
        assert not reader.at_eof()  # no FIN/RST: the connection still looks alive

        proxy.thaw()
        assert await asyncio.wait_for(reader.readexactly(5), 2) == b"lost?"

        proxy.close()
        # After close the client sees the connection end (FIN or RST, depending on timing).
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
