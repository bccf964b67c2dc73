"""Orders API benchmark: POST /v1/orders and GET /v1/orders under concurrent clients.

Runs, in one go on this machine, the real orders service (its own process: auth, validation,
rules, SQLAlchemy, tracing, audit, outbox and relay) and a bare FastAPI + asyncpg endpoint issuing
the same SQL statements (bench/orders_servers.py), both under the same load, and prints
requests/s, p50/p99 latency, the server's CPU per request, and the ratio real/bare (target ≥ 0.7).

The load generator is a minimal keep-alive HTTP/1.1 client, so that the client's own cost stays
small next to the servers'.

    python -m bench.orders_api [--clients 50] [--seconds 10] [--rounds 4] [--units 10]
                               [--server-cpus 1]

`--server-cpus` runs both servers on the same CPUs (taskset), leaving the others to PostgreSQL
and the load generator, so that both meet the same core: five pinned runs read 0.64–0.70 where
unpinned runs of the same session's code read 0.56–0.74 (docs/performance.md). Off by default,
as the figures before it were measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import mint_token
from shared.db import asyncpg_dsn
from shared.settings import DEV_AUDIENCE, DEV_ISSUER
from tests.support.throwaway import throwaway_database

ADMIN_URL = os.environ.get("KM_BENCH_DATABASE_URL",
                           "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
LINES = [{"catalogue_item_id": "phone-standard-galaxy-a56", "quantity": 1},
         {"catalogue_item_id": "sub-mobile-5gb", "quantity": 1}]
Request = tuple[str, str, dict[str, str], bytes]
MakeRequest = Callable[[int], Request]


class Connection:
    """One keep-alive HTTP/1.1 connection; responses carry Content-Length (uvicorn does)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes
                      ) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP,
                                                            socket.TCP_NODELAY, 1)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(head.encode() + b"\r\n" + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Figures:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the server process's, while measured
    database_cpu_seconds: float = 0.0  # every PostgreSQL process's, while measured

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds / max(1, len(self.latencies)) * 1000

    @property
    def database_cpu_ms(self) -> float:
        return self.database_cpu_seconds / max(1, len(self.latencies)) * 1000

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux); 0 where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds() -> float:
    """User + system CPU of every PostgreSQL process so far (the server's backends and its
    own workers, as this user may read them): the database's share of a request, which runs on
    the cores the servers are not pinned to."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        if "(postgres)" in text:
            total += cpu_seconds(int(stat.parent.name))
    return total


@dataclass
class Server:
    name: str
    process: asyncio.subprocess.Process
    port: int
    real: bool  # the orders service (True) or the bare endpoint


async def load(server: Server, clients: int, seconds: float, warmup: float,
               make: MakeRequest) -> Figures:
    figures = Figures(server.name)
    loop = asyncio.get_running_loop()
    start = loop.time() + warmup
    stop = start + seconds

    async def measure_cpu() -> None:
        await asyncio.sleep(max(0.0, start - loop.time()))
        before, database_before = cpu_seconds(server.process.pid), database_cpu_seconds()
        await asyncio.sleep(max(0.0, stop - loop.time()))
        figures.cpu_seconds = cpu_seconds(server.process.pid) - before
        figures.database_cpu_seconds = database_cpu_seconds() - database_before

    async def client(index: int) -> None:
        connection = Connection(server.port)
        try:
            while (now := loop.time()) < stop:
                try:
                    status = await connection.request(*make(index))
                except (ConnectionError, asyncio.IncompleteReadError):
                    connection.close()
                    connection, status = Connection(server.port), 599  # counted, reconnect
                if now >= start:
                    figures.latencies.append(loop.time() - now)
                    figures.errors += status >= 300
        finally:
            connection.close()

    await asyncio.gather(measure_cpu(), *(client(i) for i in range(clients)))
    figures.seconds = seconds
    return figures


@dataclass
class World:
    key: rsa.RSAPrivateKey
    units: list[dict[str, Any]]

    def token(self, person: str, role: str = "orderer") -> str:
        return "Bearer " + mint_token(self.key, subject=person, roles=[role],
                                      issuer=DEV_ISSUER, audience=DEV_AUDIENCE)


def fixture(units: int, employees: int) -> list[dict[str, Any]]:
    return [{"unit_id": f"BENCH-{u}", "head": f"head-{u}", "orderer": f"orderer-{u}",
             "employees": [f"p-{u}-{e}" for e in range(employees)]} for u in range(units)]


def who(world: World, unit: dict[str, Any], real: bool, tokens: list[str], index: int
        ) -> dict[str, str]:
    """The orders service reads the caller from a bearer token; the bare one from a header."""
    return ({"Authorization": tokens[index % len(tokens)]} if real
            else {"x-person": unit["orderer"]})


def post_request(world: World, real: bool) -> MakeRequest:
    tokens = [world.token(u["orderer"]) for u in world.units]

    def make(index: int) -> Request:
        unit = world.units[index % len(world.units)]
        body = json.dumps({"unit_id": unit["unit_id"], "lines": LINES,
                           "recipient_person_id": random.choice(unit["employees"])}).encode()
        return "POST", "/v1/orders", {"Content-Type": "application/json",
                                      "Idempotency-Key": str(uuid.uuid4()),
                                      **who(world, unit, real, tokens, index)}, body

    return make


def get_request(world: World, real: bool) -> MakeRequest:
    tokens = [world.token(u["orderer"]) for u in world.units]

    def make(index: int) -> Request:
        unit = world.units[index % len(world.units)]
        return "GET", "/v1/orders?limit=50", who(world, unit, real, tokens, index), b""

    return make


def unit_request(world: World) -> MakeRequest:
    token, unit = world.token(world.units[0]["orderer"]), world.units[0]["unit_id"]
    return lambda index: ("GET", f"/v1/units/{unit}", {"Authorization": token}, b"")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_server(name: str, real: bool, *args: str, cpus: str | None = None) -> Server:
    port = free_port()
    pinned = ["taskset", "--cpu-list", cpus] if cpus else []
    process = await asyncio.create_subprocess_exec(
        *pinned, sys.executable, "-m", "bench.orders_servers", "orders" if real else "bare",
        args[0], str(port), *args[1:], stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 120)
    if b"READY" not in line:
        raise RuntimeError(f"{name} did not start: {line!r}")
    return Server(name, process, port, real)


async def appoint(server: Server, world: World) -> None:
    """Each unit's head appoints its orderer through the API (rule O2)."""
    connection = Connection(server.port)
    for unit in world.units:
        status = await connection.request(
            "PUT", f"/v1/units/{unit['unit_id']}/orderers/{unit['orderer']}",
            {"Authorization": world.token(unit["head"], "department-head")}, b"")
        assert status in (200, 201), f"appointing failed: {status}"
    connection.close()


async def interleaved(servers: list[Server], args: argparse.Namespace, world: World,
                      make: Callable[[World, bool], MakeRequest]) -> tuple[Figures, Figures]:
    """Both servers under the same load in alternating rounds (real, bare, bare, real, …), each
    measured `seconds / rounds` at a time: this machine's speed drifts by tens of per cent over
    a minute, and one phase after the other turned that drift into the ratio."""
    measured: dict[bool, list[Figures]] = {True: [], False: []}
    for round_ in range(args.rounds):
        for server in servers if round_ % 2 == 0 else servers[::-1]:
            warmup = args.warmup if round_ < 2 else args.warmup / 4
            measured[server.real].append(await load(server, args.clients,
                                                    args.seconds / args.rounds, warmup,
                                                    make(world, server.real)))
    return merged(measured[True]), merged(measured[False])


def merged(parts: list[Figures]) -> Figures:
    whole = Figures(parts[0].name)
    for part in parts:
        whole.latencies += part.latencies
        whole.errors += part.errors
        whole.seconds += part.seconds
        whole.cpu_seconds += part.cpu_seconds
        whole.database_cpu_seconds += part.database_cpu_seconds
    return whole


async def same_orders_for_both(url: str) -> None:
    """The listing reads what the POST phase left, and the bare endpoint placed more orders
    than the service: give it the service's orders instead, so that both list the same rows."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with connection.transaction():
            await connection.execute("TRUNCATE bare.orders")
            await connection.execute("INSERT INTO bare.orders SELECT * FROM orders.orders")
        await connection.execute("ANALYZE bare.orders")
        await connection.execute("ANALYZE orders.orders")
    finally:
        await connection.close()


def report(real: Figures, bare: Figures) -> float:
    ratio = real.rate / bare.rate
    for f in (real, bare):
        print(f"  {f.name:<34} {f.rate:8.0f} req/s  p50 {f.p(50):6.1f} ms  "
              f"p99 {f.p(99):6.1f} ms  server CPU {f.cpu_ms:5.2f} ms/req  "
              f"PostgreSQL CPU {f.database_cpu_ms:5.2f} ms/req  errors {f.errors}")
    verdict = "met" if ratio >= 0.7 else "NOT met"
    print(f"  ratio orders/bare {ratio:.2f} (target ≥ 0.70: {verdict})")
    return ratio


async def run(args: argparse.Namespace, url: str, public_key: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_key.write_bytes(key.public_key().public_bytes(  # noqa: ASYNC240 - once, at start
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    world = World(key, fixture(args.units, args.employees))
    servers: list[Server] = []
    try:
        servers.append(await start_server("orders service", True, url, str(public_key),
                                          json.dumps({"units": world.units}),
                                          cpus=args.server_cpus))
        await appoint(servers[0], world)
        servers.append(await start_server("bare FastAPI + asyncpg, same SQL", False, url,
                                          cpus=args.server_cpus))
        print(f"{args.clients} clients, {args.seconds:.0f} s per server and phase in "
              f"{args.rounds} alternating rounds after {args.warmup:.0f} s warm-up, "
              f"{os.cpu_count()} cores shared by both servers, "
              f"PostgreSQL and the load generator"
              f"{f' (servers pinned to CPUs {args.server_cpus})' if args.server_cpus else ''}; "
              f"load average {os.getloadavg()[0]:.1f}")
        for title, request in (
                ("POST /v1/orders (phone + subscription; U6 adds protector and case)",
                 post_request),
                ("GET /v1/orders?limit=50 (an orderer's view, newest first)", get_request)):
            print(title)
            if request is get_request:
                await same_orders_for_both(url)
            real, bare = await interleaved(servers, args, world, request)
            report(real, bare)
        floor = await load(servers[0], args.clients, args.seconds / 2, args.warmup,
                           unit_request(world))
        print(f"the service's frame alone, GET /v1/units/{{id}} (auth, tracing, session, one "
              f"read): {floor.rate:.0f} req/s, server CPU {floor.cpu_ms:.2f} ms/req")
    finally:
        for server in servers:
            server.process.terminate()
            await server.process.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternating rounds per server, sharing --seconds")
    parser.add_argument("--units", type=int, default=10)
    parser.add_argument("--employees", type=int, default=20)
    parser.add_argument("--server-cpus", help="run both servers on these CPUs (taskset list)")
    args = parser.parse_args()
    async with throwaway_database(ADMIN_URL, "km_bench_orders") as url:
        with tempfile.TemporaryDirectory() as tmp:
            await run(args, url, Path(tmp) / "public.pem")


if __name__ == "__main__":
    asyncio.run(main())
