"""The service frame shared by all three services: app factory, lifespan, health, sessions.

The lifespan owns the engine, the transport connection, the outbox relay and the consumer. A
service is stateless: any number of replicas may run against one PostgreSQL and one RabbitMQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.auth import TokenVerifier
from shared.db import (
    DriverTransaction,
    database_answers,
    driver_transaction,
    make_consumer_engine,
    make_engine,
    make_relay_engine,
    pooled_driver,
    transaction,
)
from shared.direct_route import install_direct_lane
from shared.errors import install_problem_handlers, problem
from shared.events.base import Event
from shared.messaging.consumer import EventConsumer, Handler, prune_inbox
from shared.messaging.rabbitmq import RabbitTransport
from shared.messaging.relay import OutboxRelay
from shared.messaging.transport import Transport
from shared.migrations import upgrade_to_head_async
from shared.settings import CommonSettings, ServiceSettings, check_inbox_retention
from shared.telemetry import make_tracer_provider, trace_sql_statements, wrap_in_server_spans

log = logging.getLogger(__name__)
API_VERSION = "1.0.0"

BackgroundJob = Callable[["ServiceRuntime"], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class ServiceSpec:
    """What makes a service itself; everything else is the shared frame."""

    name: str  # also its Postgres schema and its queue prefix
    title: str
    description: str
    router: APIRouter
    handlers: Mapping[type[Event], Handler]
    migrations_dir: Path
    background_jobs: Sequence[BackgroundJob] = ()


@dataclass
class ServiceRuntime:
    spec: ServiceSpec
    common: CommonSettings
    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    transport: Transport
    tracer_provider: TracerProvider
    relay: OutboxRelay
    consumer: EventConsumer
    broker_connected: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


async def _stop_tasks(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def build_transport(common: CommonSettings, service: str) -> Transport:
    assert common.broker_url, "RabbitMQ transport needs KM_BROKER_URL"
    return RabbitTransport(
        common.broker_url,
        exchange=common.exchange,
        dead_letter_exchange=common.dead_letter_exchange,
        event_log_queue=common.event_log_queue or None,
        event_log_max_age=common.event_log_max_age,
        connection_name=f"kommunmobil-{service}",
        heartbeat=common.broker_heartbeat_seconds,
        publish_timeout=common.publish_timeout_seconds,
    )


async def _connect_and_subscribe(runtime: ServiceRuntime) -> None:
    """Retry the first connection until the broker answers; robust connections do the rest."""
    delay = 0.5
    while True:
        try:
            await runtime.transport.start()
            await runtime.transport.subscribe(runtime.consumer.subscription())
            runtime.broker_connected.set()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: broker not reachable yet (%r); retrying", runtime.spec.name, exc)
            with contextlib.suppress(Exception):
                await runtime.transport.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def create_app(
    spec: ServiceSpec,
    *,
    common: CommonSettings,
    settings: ServiceSettings,
    database_url: str,
    token_verifier: TokenVerifier,
    transport: Transport | None = None,
    tracer_provider: TracerProvider | None = None,
    run_migrations: bool = True,
) -> FastAPI:
    """Build one service. Pass `transport` to share an in-process transport (embedded default)."""
    check_inbox_retention(common, settings, spec.name)  # the CLI says it before: exit code 2
    owns_transport = transport is None
    provider = tracer_provider or make_tracer_provider(spec.name, common.otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_migrations:
            await upgrade_to_head_async(spec.name, spec.migrations_dir, database_url)
        # Everything opened below is closed in reverse on the way out, each step even when one
        # before it failed (a transport whose close raised left every engine undisposed).
        async with contextlib.AsyncExitStack() as opened:
            opened.callback(provider.force_flush)
            engine = make_engine(database_url, pool_size=settings.db_pool_size,
                                 application_name=f"kommunmobil-{spec.name}")
            opened.push_async_callback(engine.dispose)
            relay_engine = make_relay_engine(
                database_url, application_name=f"kommunmobil-{spec.name}-relay")
            opened.push_async_callback(relay_engine.dispose)
            consumer_engine = make_consumer_engine(
                database_url, application_name=f"kommunmobil-{spec.name}-consumer")
            opened.push_async_callback(consumer_engine.dispose)
            if common.trace_sql:  # not the relay: it sends its statements to asyncpg directly
                trace_sql_statements([engine, consumer_engine], provider)
            sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False,
                                          info={"schema": spec.name})
            consumer_sessions = async_sessionmaker(consumer_engine, expire_on_commit=False,
                                                   autoflush=False, info={"schema": spec.name})
            the_transport = transport or build_transport(common, spec.name)
            if owns_transport:
                opened.push_async_callback(the_transport.close)
            tracer = provider.get_tracer(f"kommunmobil.{spec.name}")
            runtime = ServiceRuntime(
                spec=spec, common=common, settings=settings, engine=engine, sessions=sessions,
                transport=the_transport, tracer_provider=provider,
                relay=OutboxRelay(
                    schema=spec.name, engine=relay_engine, transport=the_transport,
                    tracer=tracer, exchange=common.exchange,
                    batch_size=settings.relay_batch_size,
                    poll_seconds=settings.relay_poll_seconds,
                    max_backoff_seconds=settings.relay_max_backoff_seconds,
                    retention_hours=settings.outbox_retention_hours,
                ),
                consumer=EventConsumer(
                    name=spec.name, sessions=consumer_sessions, handlers=spec.handlers,
                    tracer=tracer, delivery_limit=settings.delivery_limit,
                    prefetch=settings.prefetch,
                ),
            )
            opened.push_async_callback(_stop_tasks, runtime.tasks)
            app.state.runtime = runtime
            app.state.sessions = sessions
            if owns_transport:
                runtime.tasks.append(asyncio.create_task(_connect_and_subscribe(runtime)))
            else:
                await the_transport.subscribe(runtime.consumer.subscription())
                runtime.broker_connected.set()
            runtime.tasks.append(asyncio.create_task(runtime.relay.run()))
            runtime.tasks.append(asyncio.create_task(inbox_prune_job(runtime),
                                                     name=f"{spec.name} inbox prune"))
            runtime.tasks.extend(asyncio.create_task(job(runtime))
                                 for job in spec.background_jobs)
            log.info("%s started", spec.name)
            yield

    app = FastAPI(
        title=spec.title, description=spec.description, version=API_VERSION,
        lifespan=lifespan,
    )
    app.state.token_verifier = token_verifier
    install_problem_handlers(app)
    app.include_router(_health_router())
    app.include_router(spec.router)
    install_direct_lane(app)  # after the routes: DirectRoutes' requests skip the router
    wrap_in_server_spans(app, provider.get_tracer("kommunmobil.http"),
                         frozenset({"/healthz", "/readyz"}))
    return app


INBOX_PRUNE_SECONDS = 3600.0


async def inbox_prune_job(runtime: ServiceRuntime) -> None:
    """Every hour, the consumer's inbox rows older than `inbox_retention_days`. Every replica
    runs it: a row another replica deleted first is skipped."""
    async def once() -> None:
        pruned = await prune_inbox(runtime.consumer.sessions, runtime.consumer.name,
                                   runtime.settings.inbox_retention_days)
        if pruned:
            log.info("%s: pruned %d inbox rows", runtime.spec.name, pruned)

    await repeat_every(INBOX_PRUNE_SECONDS, once, what="inbox prune", logger=log)


async def repeat_every(seconds: float, work: Callable[[], Awaitable[object]], *, what: str,
                       logger: logging.Logger, wait_first: bool = False) -> None:
    """A scheduled background job's loop: `work` every `seconds` until cancelled. A failed run is
    logged (on the job's own `logger`) and the next one comes on schedule: the job must outlive
    any one run."""
    if wait_first:
        await asyncio.sleep(seconds)
    while True:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s failed; next try in %.0f s", what, seconds)
        await asyncio.sleep(seconds)


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a process's entry point on uvloop when it is installed (uvicorn[standard] brings
    it; not on Windows): the asyncio API with its loop, sockets and callbacks in C. Each service
    then answered about a third more requests on the same CPU (docs/performance.md)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - every supported platform has it
        asyncio.run(main)
    else:
        uvloop.run(main)


def freeze_startup_heap() -> None:
    """Take what exists once a process has started (modules, classes, schemas, routes: ≈ 93,000
    objects) out of the garbage collector's sight, as a long-running service should.

    A full collection otherwise walks all of it: under the backbone benchmark's load that was a
    ≈ 100 ms pause about once a run, which every request and event in flight waited out (the
    p99 tail); after the freeze the same collection took ≈ 16 ms (docs/performance.md). Called
    before serving and again once the services have started (shared/cli.py), since starting
    adds ≈ 120,000 more. Only for a process's entry point: objects frozen are never collected, so
    a test process that builds and drops many apps must not call it.
    """
    gc.collect()
    gc.freeze()


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Alive")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/readyz", summary="Database and broker reachable", response_model=None)
    async def readyz(request: Request) -> JSONResponse | dict[str, Any]:
        runtime: ServiceRuntime | None = getattr(request.app.state, "runtime", None)
        checks = {"database": False, "broker": False}
        if runtime is not None:
            checks["broker"] = runtime.broker_connected.is_set() and runtime.transport.is_ready()
            checks["database"] = await database_answers(runtime.engine, 2)
        if all(checks.values()):
            return {"status": "ready", "checks": checks}
        failing = ", ".join(k for k, ok in checks.items() if not ok)
        return problem(503, "not-ready", "Not ready", f"unreachable: {failing}",
                       "/readyz", checks=checks)

    return router


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: committed before the response is sent, or rolled back."""
    async with transaction(request.app.state.sessions) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


async def _read_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """A pooled asyncpg connection for an endpoint that only reads, in a statement or two: no
    transaction and no ORM session, whose BEGIN, COMMIT and bookkeeping cost GET /v1/orders
    ≈ 15 % of its CPU (docs/performance.md). Each statement reads what was committed when it
    started. Back to the pool before the response is sent."""
    async with pooled_driver(request.app.state.runtime.engine) as (_, connection):
        yield connection


ReadConnection = Annotated[asyncpg.Connection, Depends(_read_connection, scope="function")]


def write_transaction(request: Request) -> AbstractAsyncContextManager[DriverTransaction]:
    """The request's one transaction on a bare asyncpg connection (shared/db.py:
    DriverTransaction), for a hot write path that needs no ORM session. The endpoint opens it
    itself (`async with write_transaction(request) as db:`), so it commits before the
    response is sent, or rolls back: as a yield dependency it would also cost FastAPI's exit
    stack and a shielded cancel scope per request, ≈ 4 % of POST /v1/orders' CPU
    (docs/performance.md)."""
    runtime: ServiceRuntime = request.app.state.runtime
    return driver_transaction(runtime.engine, runtime.spec.name)
