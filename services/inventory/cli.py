"""`kommunmobil inventory …`: the device CSV import, the operator's usage import (rule P2) and
the consumed sweep from a terminal.

All work on the database directly (KM_INVENTORY_DATABASE_URL or KM_DATABASE_URL), in one
transaction each, exactly like the HTTP endpoints: same use cases, same events through the outbox
(the running service's relay publishes them). The service must have migrated its schema already.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.inventory import csv_import, sweep, usage
from shared.db import make_engine, transaction
from shared.errors import DomainError
from shared.settings import (
    CommonSettings,
    ConfigurationError,
    InventorySettings,
    database_url_for,
    load,
)

app = typer.Typer(help="The inventory register: import a device list or the operator's usage "
                       "file, run the consumed sweep.", no_args_is_help=True)
console = Console(stderr=True)
Actor = Annotated[str, typer.Option(help="your person id (recorded in the history)")]


def _database_url() -> str:
    try:
        url = database_url_for(load(CommonSettings), load(InventorySettings))
    except ConfigurationError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if not url:
        console.print("[red]KM_INVENTORY_DATABASE_URL (or KM_DATABASE_URL) is not set[/red]")
        raise typer.Exit(2)
    return url


@asynccontextmanager
async def _session(url: str) -> AsyncIterator[AsyncSession]:
    engine = make_engine(url, pool_size=1, application_name="kommunmobil-inventory-cli")
    try:
        sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False,
                                      info={"schema": "inventory"})
        async with transaction(sessions) as session:
            yield session
    finally:
        await engine.dispose()


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="CSV: " + ",".join(csv_import.COLUMNS))],
    actor: Actor,
) -> None:
    """Import an existing device list: every row valid, or nothing imported. An issued device
    needs terms_acknowledged_at (rule B1; acknowledged_by for a shared one) and is enrolled in
    the MDM (rule B2)."""
    url = _database_url()

    async def run() -> csv_import.ImportResult:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=console) as progress, \
                file.open(encoding="utf-8-sig", newline="") as handle:
            tasks: dict[str, TaskID] = {}

            def report(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = progress.add_task(f"{phase:<8}", total=total)
                progress.update(tasks[phase], completed=done)

            async with _session(url) as session:
                return await csv_import.import_devices(
                    session, actor=actor, lines=handle, source=file.name, progress=report)

    try:
        result = asyncio.run(run())
    except DomainError as exc:  # refused, or the MDM did not answer (rule B2)
        console.print(f"[red]{exc.detail}[/red]")
        for error in exc.extra.get("errors", []):
            console.print(f"  line {error['line']}: {error['message']}")
        raise typer.Exit(1) from exc
    console.print(f"imported {result.imported} devices ({result.issued} issued)")


def _progress_columns() -> tuple[object, ...]:
    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn())


@app.command("usage-import")
def usage_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="CSV: number,period,category,amount_sek")],
    actor: Actor,
) -> None:
    """Import the operator's monthly usage file and split its costs (rule P2): every row valid,
    or nothing imported; the same file again changes nothing."""
    url = _database_url()
    content = file.read_bytes()

    async def run() -> usage.UsageImportResult:
        with Progress(*_progress_columns(), console=console) as progress:  # type: ignore[arg-type]
            tasks: dict[str, TaskID] = {}

            def report(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = progress.add_task(f"{phase:<8}", total=total)
                progress.update(tasks[phase], completed=done)

            async with _session(url) as session:
                return await usage.import_usage(session, actor=actor, content=content,
                                                source=file.name, progress=report)

    try:
        result = asyncio.run(run())
    except csv_import.ImportRefused as exc:
        console.print(f"[red]{exc.detail}[/red]")
        for error in exc.extra.get("errors", []):
            console.print(f"  line {error['line']}: {error['message']}")
        raise typer.Exit(1) from exc
    if result.duplicate:
        console.print(f"{file.name} was imported before (import {result.import_id}); "
                      "nothing changed")
        return
    t = result.totals
    console.print(f"imported {result.rows} usage rows for {', '.join(result.periods)}: "
                  f"{t.unit} SEK to cost centres, {t.employee} SEK to employees, "
                  f"{t.flagged} SEK flagged in {result.flags} flags for the heads "
                  f"(import {result.import_id})")


@app.command("sweep")
def run_sweep(actor: Actor) -> None:
    """Mark consumed every device whose model lost security updates or cannot run a required
    app (rule C1); rerunning it changes nothing."""
    url = _database_url()

    async def run() -> sweep.SweepResult:
        async with _session(url) as session:
            return await sweep.run_sweep(session, actor=actor)

    try:
        result = asyncio.run(run())
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"consumed {result.consumed} devices: {result.security_updates_ended} "
                  f"security updates ended, {result.required_app_unsupported} required app "
                  "unsupported")
