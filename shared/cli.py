"""The `kommunmobil` command: run the system, one service, mint dev tokens, write contracts."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

import typer
import uvicorn
from fastapi import FastAPI
from pydantic_settings import BaseSettings
from rich.console import Console

from services.inventory import cli as inventory_cli
from shared.auth import TokenVerifier, load_or_create_dev_key, mint_token
from shared.messaging.transport import InProcessTransport, Transport
from shared.runtime import ServiceSpec, create_app, freeze_startup_heap, run_event_loop
from shared.settings import (
    SERVICE_NAMES,
    SETTINGS_CLASSES,
    CommonSettings,
    ConfigurationError,
    ServiceSettings,
    check_inbox_retention,
    database_url_for,
    load,
)
from shared.telemetry import configure_logging

app = typer.Typer(help="kommunmobil: mobile devices and telephony, from order to scrapping.",
                  no_args_is_help=True)
app.add_typer(inventory_cli.app, name="inventory")  # `kommunmobil inventory import|sweep`
console = Console(stderr=True)
log = logging.getLogger(__name__)


def spec_of(service: str) -> ServiceSpec:
    spec: ServiceSpec = importlib.import_module(f"services.{service}.main").SPEC
    return spec


S = TypeVar("S", bound=BaseSettings)


def _settings_or_exit(build: Callable[[], S]) -> S:
    """Misconfiguration stops the process with a message naming the variable, exit code 2."""
    try:
        return build()
    except ConfigurationError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


def _load_common() -> CommonSettings:
    return _settings_or_exit(lambda: load(CommonSettings))


def _load_service(service: str, common: CommonSettings) -> ServiceSettings:
    def load_and_check() -> ServiceSettings:
        settings = load(SETTINGS_CLASSES[service])
        check_inbox_retention(common, settings, service)
        return settings

    return _settings_or_exit(load_and_check)


def token_verifier(common: CommonSettings) -> TokenVerifier:
    if common.jwt_jwks_url:
        return TokenVerifier(common)
    key = load_or_create_dev_key(common.var_dir)
    return TokenVerifier(common, public_key=key.public_key())


@dataclass
class _Served:
    name: str
    app: FastAPI
    settings: ServiceSettings


class _QuietServer(uvicorn.Server):
    """Several servers share one loop; the CLI, not each server, owns the signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_all(served: list[_Served], log_level: str) -> None:
    servers = [
        _QuietServer(uvicorn.Config(s.app, host=s.settings.host, port=s.settings.port,
                                    log_config=None, log_level=log_level.lower(), lifespan="on"))
        for s in served
    ]
    freeze_startup_heap()

    def stop_all() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_all)
    settling = asyncio.create_task(_freeze_once_started(servers, [s.app for s in served]))
    try:
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        settling.cancel()
        failure, = await asyncio.gather(settling, return_exceptions=True)
        if isinstance(failure, Exception):
            log.warning("freezing the started heap failed: %r", failure)


async def _freeze_once_started(servers: list[_QuietServer], apps: list[FastAPI],
                               patience: float = 60.0) -> None:
    """Freeze again once every service has started and reached its broker: starting imports
    modules lazily (the database dialect, the AMQP client's) and fills caches — ≈ 120,000
    long-lived objects that the first full collection would otherwise walk, a ≈ 75 ms pause
    under load (docs/performance.md)."""
    try:
        async with asyncio.timeout(patience):
            while not all(server.started for server in servers):  # noqa: ASYNC110 - a flag
                await asyncio.sleep(0.1)
            for fastapi_app in apps:
                await fastapi_app.state.runtime.broker_connected.wait()
    except TimeoutError:
        log.warning("not all services started and reached their broker within %.0f s; "
                    "freezing the heap as it is", patience)
    freeze_startup_heap()
    log.info("started: %d long-lived objects out of the collector's sight",
             gc.get_freeze_count())


def _build(service: str, common: CommonSettings, database_url: str | None,
           transport: Transport | None) -> _Served:
    settings = _load_service(service, common)
    url = database_url_for(common, settings) or database_url
    if not url:
        variable = f"KM_DATABASE_URL (or KM_{service.upper()}_DATABASE_URL)"
        console.print(f"[red]{variable} is not set[/red]")
        raise typer.Exit(2)
    fastapi_app = create_app(spec_of(service), common=common, settings=settings, database_url=url,
                             token_verifier=token_verifier(common), transport=transport)
    return _Served(service, fastapi_app, settings)


@app.command()
def up() -> None:
    """Run all three services in one process (embedded PostgreSQL and in-process events unless
    KM_DATABASE_URL / KM_BROKER_URL are set)."""
    common = _load_common()
    configure_logging(common.log_level)
    database_url = common.database_url
    if not database_url:
        from shared.embedded import start_embedded_postgres

        _server, database_url = start_embedded_postgres(common.var_dir)
        console.print(f"embedded PostgreSQL: [bold]{database_url}[/bold]")
    transport: Transport | None = None if common.broker_url else InProcessTransport()
    console.print("events: " + ("RabbitMQ " + common.broker_url.split("@")[-1]
                                if common.broker_url else "in-process transport"))
    served = [_build(name, common, database_url, transport) for name in SERVICE_NAMES]
    for s in served:
        console.print(f"  {s.name:<10} http://{s.settings.host}:{s.settings.port}  "
                      f"(OpenAPI: /docs)")
    console.print("token: [bold]kommunmobil token --sub it-1 --role it-service[/bold]")

    async def main() -> None:
        if transport is not None:
            await transport.start()
        await _serve_all(served, common.log_level)
        if transport is not None:
            await transport.close()

    run_event_loop(main())


@app.command()
def serve(service: Annotated[str, typer.Argument(help="orders | inventory | lifecycle")]) -> None:
    """Run one service (API, relay, consumer) on real PostgreSQL and RabbitMQ, for production."""
    if service not in SERVICE_NAMES:
        console.print(f"[red]unknown service {service!r}; choose one of {', '.join(SERVICE_NAMES)}")
        raise typer.Exit(2)
    common = _load_common()
    _load_service(service, common)  # every setting is checked before anything starts
    configure_logging(common.log_level)
    if not common.broker_url:
        console.print("[red]KM_BROKER_URL is not set: `serve` needs RabbitMQ "
                      "(use `kommunmobil up` for the embedded default)[/red]")
        raise typer.Exit(2)
    served = _build(service, common, None, None)
    run_event_loop(_serve_all([served], common.log_level))


@app.command()
def token(
    sub: Annotated[str, typer.Option(help="person id")] = "it-1",
    role: Annotated[list[str] | None, typer.Option(help="role; repeat for several")] = None,
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 8 * 3600,
) -> None:
    """Mint a development token signed with the embedded default's local key."""
    common = _load_common()
    if common.environment == "production":
        console.print("[red]refusing to mint tokens in production[/red]")
        raise typer.Exit(2)
    key = load_or_create_dev_key(common.var_dir)
    typer.echo(mint_token(key, subject=sub, roles=role or ["it-service"], issuer=common.jwt_issuer,
                          audience=common.jwt_audience, ttl_seconds=ttl))


@app.command()
def contracts(
    check: Annotated[bool, typer.Option(help="fail if the checked-in files are stale")] = False,
) -> None:
    """Write docs/schemas/*.json and docs/asyncapi.yaml from the event models."""
    from shared.events.contracts import stale_files, write_contracts

    if check:
        stale = stale_files()
        for path in stale:
            console.print(f"[red]stale: {path}[/red]")
        raise typer.Exit(1 if stale else 0)
    for path in write_contracts():
        console.print(f"wrote {path}")


def main() -> None:
    logging.captureWarnings(True)
    app()


if __name__ == "__main__":
    main()
