"""The request frame's own parts: the verified-token cache, the server spans, and the W3C
traceparent reading and writing that carries a trace through the outbox and the broker."""

from __future__ import annotations

import time
from types import SimpleNamespace

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.auth import TokenVerifier, mint_token
from shared.db import make_engine
from shared.errors import Unauthorized, install_problem_handlers
from shared.runtime import ReadConnection
from shared.settings import DEV_AUDIENCE, DEV_ISSUER, CommonSettings
from shared.telemetry import (
    context_from_headers,
    span_context_from,
    traceparent_of,
    wrap_in_server_spans,
)

# --- the verified-token cache -------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def verifier(key: rsa.RSAPrivateKey, cache_size: int = 10) -> TokenVerifier:
    return TokenVerifier(CommonSettings(environment="test"), public_key=key.public_key(),
                         cache_size=cache_size)


def token(key: rsa.RSAPrivateKey, subject: str = "p-1", ttl: int = 60) -> str:
    return mint_token(key, subject=subject, roles=["orderer"], issuer=DEV_ISSUER,
                      audience=DEV_AUDIENCE, ttl_seconds=ttl)


async def test_an_unreachable_identity_provider_is_a_503_not_an_invalid_token(
        key: rsa.RSAPrivateKey) -> None:
    """Its keys cannot be fetched: nobody's token can be checked, and a 401 would make a portal
    sign its user out; the answer says so without the network error's details."""
    check = TokenVerifier(CommonSettings(environment="test",
                                         jwt_jwks_url="http://127.0.0.1:1/jwks.json"))
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/v1/me")
    async def me(request: Request) -> dict[str, str]:
        return {"person_id": (await check.verify(token(key))).person_id}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        answer = await c.get("/v1/me")
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "2"
    assert "try again" in answer.json()["detail"] and "127.0.0.1" not in answer.text


async def test_a_remembered_token_is_refused_once_it_expires(
        key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> None:
    check, bearer = verifier(key), token(key, ttl=60)
    first = await check.verify(bearer)
    assert first.person_id == "p-1" and first.roles == frozenset({"orderer"})
    assert await check.verify(bearer) == first  # remembered: the same caller
    later = time.time() + 61
    monkeypatch.setattr("shared.auth.time.time", lambda: later)
    monkeypatch.setattr("jwt.api_jwt.datetime", _FrozenDatetime(later))
    with pytest.raises(Unauthorized, match="expired"):
        await check.verify(bearer)


async def test_a_forged_token_is_refused_even_when_its_claims_were_seen(
        key: rsa.RSAPrivateKey) -> None:
    check, bearer = verifier(key), token(key)
    await check.verify(bearer)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(jwt.decode(bearer, options={"verify_signature": False}), other,
                        algorithm="RS256")
    with pytest.raises(Unauthorized):
        await check.verify(forged)


async def test_the_cache_keeps_at_most_its_size(key: rsa.RSAPrivateKey) -> None:
    check = verifier(key, cache_size=3)
    for n in range(5):
        await check.verify(token(key, subject=f"p-{n}"))
    assert len(check._verified) == 3  # the least recently used were dropped


class _FrozenDatetime:
    """PyJWT reads the time through datetime.now(tz=...); this one answers `at`."""

    def __init__(self, at: float) -> None:
        import datetime as real

        self._real, self._at = real.datetime, at

    def now(self, tz: object = None) -> object:
        return self._real.fromtimestamp(self._at, tz=tz)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


# --- server spans -------------------------------------------------------------------------------


def traced_app() -> tuple[FastAPI, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    things = APIRouter(prefix="/things")

    @things.post("/{thing_id}", status_code=201)
    async def make(thing_id: str) -> dict[str, str]:
        return {"thing_id": thing_id}

    @things.get("/{thing_id}")
    async def broken(thing_id: str) -> dict[str, str]:
        raise HTTPException(503, "down")

    @things.delete("/{thing_id}")
    async def crashing(thing_id: str) -> None:
        raise RuntimeError("database gone")

    app = FastAPI()
    app.include_router(things, prefix="/v1")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {}

    @app.exception_handler(Exception)
    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"title": "Service unavailable"}, status_code=503)

    wrap_in_server_spans(app, provider.get_tracer("test"), frozenset({"/healthz"}))
    return app, exporter


async def test_a_request_gets_one_server_span_named_by_its_full_route_template() -> None:
    app, exporter = traced_app()
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        assert (await c.post("/v1/things/a-1", headers={"traceparent": parent})).status_code == 201
        assert (await c.get("/v1/things/a-2")).status_code == 503
        assert (await c.get("/healthz")).status_code == 200
    made, failed = exporter.get_finished_spans()  # none for the excluded /healthz
    assert made.name == "POST /v1/things/{thing_id}" and made.kind is SpanKind.SERVER
    assert made.attributes is not None
    assert made.attributes["http.route"] == "/v1/things/{thing_id}"
    assert made.attributes["http.response.status_code"] == 201
    assert made.attributes["url.path"] == "/v1/things/a-1"
    assert format(made.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert made.parent is not None and format(made.parent.span_id, "016x") == "b7ad6b7169203331"
    assert failed.name == "GET /v1/things/{thing_id}"
    assert failed.status.status_code is StatusCode.ERROR  # a 5xx
    assert failed.context.trace_id != made.context.trace_id  # no traceparent: a new trace


async def test_the_span_carries_the_status_sent_even_when_an_outer_handler_sent_it() -> None:
    """The application's Exception handler (a 503 for an unreachable database, shared/errors.py)
    runs outside the routing: the span must still say 503, not 500."""
    app, exporter = traced_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app, raise_app_exceptions=False),
                                 base_url="http://t") as c:
        assert (await c.delete("/v1/things/a-1")).status_code == 503
    (span,) = exporter.get_finished_spans()
    assert span.name == "DELETE /v1/things/{thing_id}"
    assert span.attributes is not None and span.attributes["http.response.status_code"] == 503
    assert span.status.status_code is StatusCode.ERROR


async def test_a_405_first_does_not_misname_the_route_for_later_requests() -> None:
    app, exporter = traced_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        assert (await c.put("/v1/things/a-1")).status_code == 405
        assert (await c.post("/v1/things/a-2")).status_code == 201
    assert exporter.get_finished_spans()[-1].name == "POST /v1/things/{thing_id}"


# --- traceparent ---------------------------------------------------------------------------------

VALID = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize("value", [
    None, "", 42, "garbage", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # all-zero trace id
    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # all-zero parent id
    "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  # upper case
    VALID + "-extra",  # version 00 has exactly four fields
])
def test_a_malformed_traceparent_names_no_parent(value: object) -> None:
    assert span_context_from(value) is None


def test_traceparent_reads_and_writes_as_the_propagator_does() -> None:
    propagator = TraceContextTextMapPropagator()
    for value in (VALID, VALID[:-2] + "00", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"
                  "-01-future"):
        parsed = span_context_from(value)
        expected = propagator.extract({"traceparent": value})
        reference = next(iter(expected.values())).get_span_context()  # type: ignore[attr-defined]
        assert parsed == reference, value
    carrier: dict[str, str] = {}
    span = TracerProvider().get_tracer("t").start_span("s")
    propagator.inject(carrier, context=trace.set_span_in_context(span))
    assert traceparent_of(span) == carrier["traceparent"]


def test_tracestate_travels_with_the_parent() -> None:
    context = context_from_headers({"traceparent": VALID, "tracestate": "km=1"})
    parent = next(iter(context.values())).get_span_context()  # type: ignore[attr-defined]
    assert parent.trace_state.get("km") == "1" and parent.span_id == 0xb7ad6b7169203331


# --- read-only endpoints on a pooled connection ------------------------------------------------


async def test_a_read_only_endpoint_answers_503_when_the_database_is_unreachable() -> None:
    """shared/runtime.py: ReadConnection takes a connection from the engine's pool outside any
    session; an unreachable database must still be the problem handler's 503, not a 500."""
    app = FastAPI()
    install_problem_handlers(app)
    engine = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    app.state.runtime = SimpleNamespace(engine=engine)

    @app.get("/v1/things")
    async def things(db: ReadConnection) -> list[int]:
        return [row[0] for row in await db.fetch("SELECT 1")]

    try:
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            answer = await c.get("/v1/things")
    finally:
        await engine.dispose()
    assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
    assert "cannot reach its database" in answer.json()["detail"]


@pytest.mark.parametrize("statement, argument", [
    ("SELECT $1::int", 2 ** 40),  # asyncpg cannot encode it: refused before it is sent
    ("SELECT $1::numeric(10, 2)", 10 ** 12),  # PostgreSQL refuses it (22003)
    ("SELECT $1::text", "a\x00b"),  # PostgreSQL stores no NUL (22021)
])
async def test_a_value_postgresql_cannot_take_is_a_422_not_a_500_nor_a_503(
        statement: str, argument: object) -> None:
    """What validation let through and the database refuses is the caller's input: answered by
    the app (not re-raised to the server), and not taken for an outage either."""
    app = FastAPI()
    install_problem_handlers(app)
    engine = make_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    app.state.runtime = SimpleNamespace(engine=engine)

    @app.get("/v1/things")
    async def things(db: ReadConnection) -> list[object]:
        return [row[0] for row in await db.fetch(statement, argument)]

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                     base_url="http://t") as c:
            answer = await c.get("/v1/things")
    finally:
        await engine.dispose()
    assert answer.status_code == 422, answer.text
    assert "cannot be stored" in answer.json()["detail"]
