"""DirectRoute (shared/direct_route.py): a well-formed request skips FastAPI's dependency solving,
and every other request gets exactly what FastAPI's standard handler answers, with the endpoint
run at most once. POST /v1/orders is served by it; the orders tests hold its refusals.

Two apps carry the same endpoint, one as a DirectRoute and one as a plain APIRoute, with the
service's real token verification and problem details; every request is sent to both and the
answers compared. The DirectRoute app is tried twice: reached through the router, and through
the lane in front of the router (`install_direct_lane`, as every service installs it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Body, Depends, FastAPI, Header, Query, Request, Response
from pydantic import BaseModel, Field

from shared.auth import CurrentUser, TokenVerifier, mint_token, require_roles
from shared.direct_route import (
    DIRECT_RESOLVERS,
    DirectLane,
    DirectRoute,
    direct_route,
    install_direct_lane,
)
from shared.errors import Forbidden, install_problem_handlers
from shared.settings import DEV_AUDIENCE, DEV_ISSUER, CommonSettings


class Line(BaseModel):
    item: str = Field(min_length=1, max_length=20)
    quantity: int = Field(ge=1, le=10)


class Placed(BaseModel):
    unit_id: str
    lines: list[Line] = Field(min_length=1)


def channel(request: Request) -> str:
    """A dependency whose value tells which path served the request."""
    return "standard"


async def direct_channel(request: Request) -> str:
    return "direct"


DIRECT_RESOLVERS[channel] = direct_channel
Key = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=12)]


def build_app(mode: str, key: rsa.RSAPrivateKey, calls: list[dict[str, Any]]) -> FastAPI:
    """mode: "standard" (an APIRoute), "route" (a DirectRoute) or "lane" (and the lane)."""
    router = APIRouter(prefix="/v1")

    async def place(body: Placed, request: Request, user: CurrentUser,
                    served_by: Annotated[str, Depends(channel)], idempotency_key: Key = None,
                    dry_run: Annotated[bool, Query()] = False) -> Response:
        calls.append({"unit_id": body.unit_id, "lines": len(body.lines),
                      "person": user.person_id, "key": idempotency_key, "dry_run": dry_run})
        if body.unit_id == "FORBIDDEN":
            raise Forbidden("Not for this unit.", rule="O2")
        if body.unit_id == "CRASH":
            raise RuntimeError("a bug")
        route = request.scope["route"]
        return Response(json.dumps({"unit_id": body.unit_id, "person": user.person_id,
                                    "key": idempotency_key, "dry_run": dry_run,
                                    "served_by": served_by, "route": route.path,
                                    "endpoint": request.scope["endpoint"].__name__,
                                    "url": str(request.url_for("place")),
                                    "path_params": request.path_params}),
                        status_code=201, media_type="application/json")

    options: dict[str, Any] = {"methods": ["POST"], "status_code": 201}
    if mode == "standard":
        router.add_api_route("/things", place, **options)
    else:
        direct_route(router, "/things", **options)(place)
    app = FastAPI()
    app.include_router(router)
    if mode == "lane":
        install_direct_lane(app)
    install_problem_handlers(app)
    app.state.token_verifier = TokenVerifier(CommonSettings(environment="test"),
                                             public_key=key.public_key())
    return app


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Pair:
    """apps[True]: the DirectRoute, reached as `mode` says; apps[False]: the plain APIRoute."""

    def __init__(self, key: rsa.RSAPrivateKey, mode: str) -> None:
        self.calls: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
        self.apps = {direct: build_app(mode if direct else "standard", key, self.calls[direct])
                     for direct in (True, False)}

    async def send(self, direct: bool, method: Any = "POST", **request: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.apps[direct], raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, "/v1/things", **request)


@pytest.fixture(params=["route", "lane"])
async def pair(key: rsa.RSAPrivateKey, request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    yield Pair(key, request.param)


def bearer(key: rsa.RSAPrivateKey, subject: str = "p-1", ttl: int = 60) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(
        key, subject=subject, roles=["orderer"], issuer=DEV_ISSUER, audience=DEV_AUDIENCE,
        ttl_seconds=ttl)}


BODY = {"unit_id": "SOC-1", "lines": [{"item": "phone", "quantity": 1}]}


async def test_a_well_formed_request_takes_the_direct_path_with_every_argument(
        pair: Pair, key: rsa.RSAPrivateKey) -> None:
    headers = bearer(key, "p-7") | {"Idempotency-Key": "k-1"}
    direct = await pair.send(True, json=BODY, headers=headers, params={"dry_run": "true"})
    standard = await pair.send(False, json=BODY, headers=headers, params={"dry_run": "true"})
    assert direct.status_code == standard.status_code == 201
    assert direct.json() == standard.json() | {"served_by": "direct"}
    assert standard.json()["served_by"] == "standard"
    assert pair.calls[True] == pair.calls[False] == [
        {"unit_id": "SOC-1", "lines": 1, "person": "p-7", "key": "k-1", "dry_run": True}]
    # what the router leaves in the scope for the route it picked, the lane leaves too
    assert direct.json()["route"] == standard.json()["route"] == "/v1/things"
    assert direct.json()["endpoint"] == standard.json()["endpoint"] == "place"
    assert direct.json()["url"] == standard.json()["url"] == "http://test/v1/things"


@pytest.mark.parametrize(("unit_id", "status"), [("FORBIDDEN", 403), ("CRASH", 500)])
async def test_what_the_endpoint_raises_is_answered_as_fastapi_answers_it(
        pair: Pair, key: rsa.RSAPrivateKey, unit_id: str, status: int) -> None:
    """The app's exception handlers (problem details) and, for a bug, the server error."""
    request = {"json": {**BODY, "unit_id": unit_id}, "headers": bearer(key)}
    direct = await pair.send(True, **request)
    standard = await pair.send(False, **request)
    assert direct.status_code == standard.status_code == status
    assert direct.text == standard.text
    assert len(pair.calls[True]) == len(pair.calls[False]) == 1


async def test_another_method_is_answered_by_the_router(pair: Pair,
                                                        key: rsa.RSAPrivateKey) -> None:
    direct = await pair.send(True, "GET", headers=bearer(key))
    standard = await pair.send(False, "GET", headers=bearer(key))
    assert direct.status_code == standard.status_code == 405
    assert direct.json() == standard.json()


def refusals(key: rsa.RSAPrivateKey) -> dict[str, dict[str, Any]]:
    """Requests the direct path hands to FastAPI's handler, each refused there."""
    good = bearer(key)
    return {
        "json syntax": {"content": b'{"unit_id": ', "headers": good | {
            "Content-Type": "application/json"}},
        "a field's constraint": {"json": {**BODY, "lines": [{"item": "x", "quantity": 0}]},
                                 "headers": good},
        "a missing field": {"json": {"lines": BODY["lines"]}, "headers": good},
        "an empty body": {"headers": good | {"Content-Type": "application/json"}},
        "a body that is not an object": {"json": [1, 2], "headers": good},
        "not JSON": {"content": b"unit_id=SOC-1", "headers": good | {
            "Content-Type": "application/x-www-form-urlencoded"}},
        "no content type": {"content": json.dumps(BODY).encode(), "headers": good},
        "no token": {"json": BODY},
        "another scheme": {"json": BODY, "headers": {"Authorization": "Basic cDE6cHc="}},
        "a bearer without token": {"json": BODY, "headers": {"Authorization": "Bearer "}},
        "an expired token": {"json": BODY, "headers": bearer(key, ttl=-60)},
        "a forged token": {"json": BODY, "headers": bearer(
            rsa.generate_private_key(public_exponent=65537, key_size=2048))},
        "a header too long": {"json": BODY, "headers": good | {"Idempotency-Key": "k" * 13}},
        "a query parameter": {"json": BODY, "headers": good, "params": {"dry_run": "maybe"}},
    }


REFUSED = ["json syntax", "a field's constraint", "a missing field", "an empty body",
           "a body that is not an object", "not JSON", "no content type", "no token",
           "another scheme", "a bearer without token", "an expired token", "a forged token",
           "a header too long", "a query parameter"]


def test_every_refusal_is_checked(key: rsa.RSAPrivateKey) -> None:
    assert sorted(refusals(key)) == sorted(REFUSED)


@pytest.mark.parametrize("case", REFUSED)
async def test_anything_else_is_answered_by_fastapis_own_handler_exactly(
        pair: Pair, key: rsa.RSAPrivateKey, case: str) -> None:
    request = refusals(key)[case]
    direct = await pair.send(True, **request)
    standard = await pair.send(False, **request)
    assert direct.status_code == standard.status_code
    assert direct.status_code in (401, 422), direct.text
    assert direct.json() == standard.json()
    assert direct.headers.get("WWW-Authenticate") == standard.headers.get("WWW-Authenticate")
    assert pair.calls[True] == pair.calls[False] == []


async def test_what_only_fastapi_accepts_is_served_by_it_once(pair: Pair,
                                                             key: rsa.RSAPrivateKey) -> None:
    """A structured JSON media type: FastAPI parses it, the direct path does not try."""
    request = {"content": json.dumps(BODY).encode(), "headers": bearer(key) | {
        "Content-Type": "application/merge-patch+json"}}
    direct = await pair.send(True, **request)
    assert direct.status_code == 201
    assert direct.json()["served_by"] == "standard"
    assert len(pair.calls[True]) == 1


async def test_dependency_overrides_are_honoured(pair: Pair, key: rsa.RSAPrivateKey) -> None:
    pair.apps[True].dependency_overrides[channel] = lambda: "overridden"
    response = await pair.send(True, json=BODY, headers=bearer(key))
    assert response.status_code == 201
    assert response.json()["served_by"] == "overridden"


# Module level: the endpoints' string annotations must resolve (PEP 563).
def unknown() -> str:
    return "?"


async def with_unknown_dependency(value: Annotated[str, Depends(unknown)]) -> Response:
    return Response()


async def with_two_bodies(a: Line, b: Line) -> Response:
    return Response()


async def with_embedded_body(line: Annotated[Line, Body(embed=True)]) -> Response:
    return Response()


def not_a_coroutine(line: Line) -> Response:
    return Response()


async def returning_a_model(line: Line, user: CurrentUser) -> Line:
    return line


async def well_formed(line: Line, user: CurrentUser) -> Response:
    return Response()


@pytest.mark.parametrize(("endpoint", "reason"), [
    (with_unknown_dependency, "cannot serve the dependency"),
    (with_two_bodies, "more than one body parameter"),
    (with_embedded_body, "not a plain JSON body"),
    (not_a_coroutine, "not a coroutine function"),
    (returning_a_model, "not annotated to return a Response"),
])
def test_an_endpoint_it_cannot_serve_completely_is_refused_when_the_route_is_built(
        endpoint: Any, reason: str) -> None:
    with pytest.raises(TypeError, match=reason):
        APIRouter().add_api_route("/x", endpoint, methods=["POST"],
                                  route_class_override=DirectRoute)


async def test_a_dependency_its_inclusion_adds_is_seen_and_refused(
        key: rsa.RSAPrivateKey) -> None:
    """Else a well-formed request would skip it: e.g. a role check on the whole router. FastAPI
    builds an inclusion's routes lazily, when first asked: the OpenAPI document or a request."""
    router = APIRouter()
    direct_route(router, "/x", methods=["POST"])(well_formed)
    guarded = FastAPI()
    guarded.include_router(router, dependencies=[Depends(require_roles("it-service"))])
    with pytest.raises(TypeError, match="cannot serve the dependency"):
        guarded.openapi()
    transport = httpx.ASGITransport(app=guarded)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(TypeError, match="cannot serve the dependency"):
            await client.post("/x", json={"item": "a", "quantity": 1}, headers=bearer(key))
    plain = FastAPI()
    plain.include_router(router)
    assert "/x" in plain.openapi()["paths"]


def lane_of(app: FastAPI) -> tuple[DirectLane, list[str]]:
    """The app's lane, its router counting the requests that reach it."""
    lane = app.router.middleware_stack
    assert isinstance(lane, DirectLane)
    reached: list[str] = []
    routed = lane.routed

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await routed(scope, receive, send)

    lane.routed = counting
    return lane, reached


async def test_the_lane_serves_a_well_formed_request_without_the_router(
        key: rsa.RSAPrivateKey) -> None:
    calls: list[dict[str, Any]] = []
    app = build_app("lane", key, calls)
    _, reached = lane_of(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        served = await client.post("/v1/things", json=BODY, headers=bearer(key))
        refused = await client.post("/v1/things", json={"lines": []}, headers=bearer(key))
    assert served.status_code == 201 and served.json()["served_by"] == "direct"
    assert refused.status_code == 422
    assert reached == ["/v1/things"]  # only the refusal, with the body it had read replayed
    assert len(calls) == 1


async def test_a_route_the_router_would_not_pick_gets_no_lane(key: rsa.RSAPrivateKey) -> None:
    """An earlier route matching the same method and path wins in the router: the lane must
    not take its requests."""
    router = APIRouter(prefix="/v1")

    @router.post("/{anything}")
    async def earlier(anything: str) -> dict[str, str]:
        return {"served_by": "earlier"}

    direct_route(router, "/things", methods=["POST"])(well_formed)
    app = FastAPI()
    app.include_router(router)
    install_direct_lane(app)
    app.state.token_verifier = TokenVerifier(CommonSettings(environment="test"),
                                             public_key=key.public_key())
    _, reached = lane_of(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        response = await client.post("/v1/things", json={"item": "a", "quantity": 1},
                                     headers=bearer(key))
    assert response.json() == {"served_by": "earlier"}
    assert reached == ["/v1/things"]


async def test_an_app_mounted_in_another_is_served_as_the_router_serves_it(
        key: rsa.RSAPrivateKey) -> None:
    """Mounted under a path with a parameter: the mount's router (`url_for`) and its path
    parameters stay in the scope, as the router leaves them."""
    answers = {}
    for mode in ("standard", "route", "lane"):
        parent = FastAPI()
        parent.mount("/tenants/{tenant}", build_app(mode, key, []))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=parent),
                                     base_url="http://test") as client:
            response = await client.post("/tenants/t-1/v1/things", json=BODY,
                                         headers=bearer(key))
        assert response.status_code == 201, response.text
        answers[mode] = response.json()
    assert answers["standard"]["path_params"] == {"tenant": "t-1"}
    assert answers["lane"] == answers["route"] == answers["standard"] | {"served_by": "direct"}


@pytest.mark.parametrize("mode", ["standard", "route"])
async def test_a_body_over_the_apps_limit_is_refused_with_413(key: rsa.RSAPrivateKey,
                                                             mode: str) -> None:
    """Streamed (no Content-Length), so that the limit trips while the body is read."""
    app = build_app(mode, key, [])
    app.router.max_body_size = 64  # what FastAPI(max_body_size=64) sets for its routes
    limited = FastAPI(max_body_size=64)
    limited.mount("", app)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b'{"unit_id": "' + b"x" * 30

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited),
                                 base_url="http://test") as client:
        response = await asyncio.wait_for(client.post(
            "/v1/things", content=chunks(),
            headers=bearer(key) | {"Content-Type": "application/json"}), 10)
    assert response.status_code == 413
