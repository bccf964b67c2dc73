"""The three services running in this process, as `kommunmobil up` runs them, for HTTP and
end-to-end tests: real migrations, real PostgreSQL, and either transport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.auth import TokenVerifier
from shared.cli import spec_of
from shared.messaging.transport import InProcessTransport, Transport
from shared.runtime import create_app
from shared.settings import SERVICE_NAMES, CommonSettings, InventorySettings, service_settings
from shared.telemetry import make_tracer_provider

T = TypeVar("T")


@dataclass
class RunningSystem:
    kind: str
    apps: dict[str, FastAPI]
    clients: dict[str, httpx.AsyncClient]
    transport: Transport | None
    spans: InMemorySpanExporter

    def __getattr__(self, service: str) -> httpx.AsyncClient:
        try:
            return self.clients[service]
        except KeyError:
            raise AttributeError(service) from None


async def eventually(probe: Callable[[], Awaitable[T]], until: Callable[[T], bool],
                     timeout: float = 20.0) -> T:
    """Poll `probe` until `until(result)`; return the last result either way."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if until(result) or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.05)


@asynccontextmanager
async def run_system(database_url: str, broker_url: str | None, signing_key: rsa.RSAPrivateKey
                     ) -> AsyncIterator[RunningSystem]:
    spans = InMemorySpanExporter()
    common = CommonSettings(database_url=database_url, broker_url=broker_url,
                            environment="test")
    transport: Transport | None = None if broker_url else InProcessTransport()
    verifier = TokenVerifier(common, public_key=signing_key.public_key())
    async with AsyncExitStack() as stack:
        if transport is not None:
            await transport.start()
            stack.push_async_callback(transport.close)
        apps: dict[str, FastAPI] = {}
        clients: dict[str, httpx.AsyncClient] = {}
        for name in SERVICE_NAMES:
            # Two systems run side by side in a test session, on a PostgreSQL with 100 connections:
            # per service up to 8 for requests, 2 for its relay and 6 for its consumer (at most
            # 96 for both systems; the suite holds ≈ 30 at its busiest).
            settings = service_settings(name).model_copy(update={"db_pool_size": 4})
            if isinstance(settings, InventorySettings):
                # Only at start-up (on an empty database), not during the suite: the pass would
                # hand one test's stock to another test's waiting line
                # (tests/integration/test_inventory_backorder_pass.py runs it on a database of
                # its own).
                settings = settings.model_copy(update={"backorder_pass_seconds": 86_400.0})
            app = create_app(spec_of(name), common=common, settings=settings,
                             database_url=database_url, token_verifier=verifier,
                             transport=transport,
                             tracer_provider=make_tracer_provider(name, None, exporter=spans))
            await stack.enter_async_context(app.router.lifespan_context(app))
            apps[name] = app
            clients[name] = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"))
        kind = "rabbitmq" if broker_url else "inprocess"
        system = RunningSystem(kind, apps, clients, transport, spans)
        await eventually(lambda: _all_ready(system), bool, timeout=30)
        yield system


async def _all_ready(system: RunningSystem) -> bool:
    responses: list[Any] = [await c.get("/readyz") for c in system.clients.values()]
    return all(r.status_code == 200 for r in responses)
