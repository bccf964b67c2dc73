"""A service's lifespan closes what it opened, each step even when one before it fails."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import runtime as runtime_module
from shared.auth import TokenVerifier
from shared.cli import spec_of
from shared.messaging.transport import InProcessTransport
from shared.runtime import create_app
from shared.settings import CommonSettings, service_settings


class CloseFails(InProcessTransport):
    async def close(self) -> None:
        await super().close()
        raise RuntimeError("the broker connection did not close cleanly")


async def test_every_engine_is_disposed_even_when_closing_the_transport_fails(
        empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The service builds (and so closes) its own transport, as with RabbitMQ.
    monkeypatch.setattr(runtime_module, "build_transport", lambda common, service: CloseFails())
    common = CommonSettings(database_url=empty_database_url, broker_url=None, environment="test")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    app = create_app(spec_of("orders"), common=common, settings=service_settings("orders"),
                     database_url=empty_database_url,
                     token_verifier=TokenVerifier(common, public_key=key.public_key()))
    with pytest.raises(RuntimeError, match="did not close cleanly"):
        async with app.router.lifespan_context(app):
            runtime = app.state.runtime
            async with app.state.sessions() as session:
                await session.execute(text("SELECT 1"))
            await runtime.relay.relay_once()
            async with runtime.consumer.sessions() as session:
                await session.execute(text("SELECT 1"))
            engines = [runtime.engine, runtime.relay.engine,
                       runtime.consumer.sessions.kw["bind"]]
            assert all(connections(engine) >= 1 for engine in engines)
    # Disposed: each pool gave its connections back to PostgreSQL (a fresh, empty pool remains).
    assert [connections(engine) for engine in engines] == [0, 0, 0]


def connections(engine: AsyncEngine) -> int:
    pool = engine.pool
    return int(pool.checkedin() + pool.checkedout())  # type: ignore[attr-defined]
