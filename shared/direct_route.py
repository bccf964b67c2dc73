"""A route that serves its well-formed requests without FastAPI's dependency solving.

FastAPI's request handler (parse the body, solve every dependency, validate, call the endpoint,
serialize) is general and costs, per request, about as much as the whole of a bare endpoint that
inserts an order (docs/performance.md, "Orders"). `DirectRoute` keeps everything FastAPI builds
from the endpoint's signature — the OpenAPI operation, the validation errors, the problem details
— and adds a direct path for the request a client sends when nothing is wrong: a JSON body that
validates against the body model in one step (pydantic's `model_validate_json`), the header,
query and path parameters validated by FastAPI's own field validation, and each dependency
resolved by a resolver registered for it (`DIRECT_RESOLVERS`, e.g. the bearer token).

Whenever the direct path cannot decide on its own — an invalid body or parameter, a missing
token, another content type, dependency overrides (tests) — it hands the same request to
FastAPI's standard handler, before anything has run: every refusal is FastAPI's own, by
construction, and the endpoint runs at most once. (A resolver may also refuse as its dependency
would: a token that does not verify raises the same 401.) The direct path applies only to
endpoints it can serve completely — a coroutine returning a Response, one plain JSON body model,
parameters, `Request`, dependencies with a resolver and no OAuth scopes — and
`get_route_handler` refuses any other signature when the route is built, so an endpoint that
grows a parameter it does not know fails loudly instead of losing the parameter. That includes
dependencies added by `include_router(dependencies=…)`: the plan is made from the route as
included (FastAPI builds a handler per inclusion, lazily: at the OpenAPI document or the first
request). FastAPI's own opt-in telemetry (`FastAPI(telemetry=…)`, not used here) sees no
"dependencies" or "endpoint" operation for a request served directly.

`install_direct_lane` goes one step further for a DirectRoute with a fixed path: its well-formed
requests skip the router too (see `DirectLane`).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

from fastapi import FastAPI, Request, Response, params
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_typed_return_annotation, request_params_to_args
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match, get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A resolver answers a dependency's value from the request, or None when it cannot (the standard
# handler then answers, e.g. 401 for a missing token). Registered by the module that owns the
# dependency (shared/auth.py registers the bearer token's).
DirectResolver = Callable[[Request], Awaitable[Any | None]]
DIRECT_RESOLVERS: dict[Callable[..., Any], DirectResolver] = {}

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class DirectRoute(APIRoute):
    """An APIRoute whose well-formed requests skip FastAPI's dependency solving (see module)."""

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        plan = _DirectPlan.of(_as_included(self), self.path)

        async def handle(request: Request) -> Response:
            arguments = await plan.arguments(request)
            if arguments is None:
                return await standard(request)
            return await plan.respond(arguments)

        return handle


def _as_included(route: APIRoute) -> Dependant:
    """The dependant FastAPI's standard handler solves for this route: for a route of an
    included router, the one with the inclusion's dependencies (FastAPI 0.165 builds each
    inclusion's handler with its context set; tests/unit/test_direct_route.py holds that an
    inclusion's dependency is seen, so a FastAPI that drops this hook fails there)."""
    context_var = getattr(fastapi_routing, "_effective_route_context_var", None)
    context = context_var.get() if context_var is not None else None
    if context is not None and getattr(context, "original_route", None) is route:
        return cast(Dependant, context.dependant)
    return route.dependant


class _DirectPlan:
    """What the direct path reads for one endpoint, worked out once when the route is built."""

    def __init__(self, dependant: Dependant, body: tuple[str, type[BaseModel]] | None,
                 resolvers: list[tuple[str, DirectResolver]]) -> None:
        assert dependant.call is not None
        self.call: Callable[..., Awaitable[Any]] = dependant.call
        self.dependant = dependant
        self.body = body
        self.resolvers = resolvers
        self.parameters = [(fields, source) for fields, source in (
            (dependant.path_params, "path_params"), (dependant.query_params, "query_params"),
            (dependant.header_params, "headers")) if fields]

    @classmethod
    def of(cls, dependant: Dependant, path: str) -> _DirectPlan:
        unsupported = [name for name in (
            "websocket_param_name", "http_connection_param_name", "response_param_name",
            "background_tasks_param_name", "security_scopes_param_name")
            if getattr(dependant, name) is not None]
        if dependant.cookie_params:
            unsupported.append("cookie parameters")
        assert dependant.call is not None
        if not inspect.iscoroutinefunction(dependant.call):
            unsupported.append("an endpoint that is not a coroutine function")
        returns = get_typed_return_annotation(dependant.call)
        if not (isinstance(returns, type) and issubclass(returns, Response)):
            unsupported.append(f"an endpoint not annotated to return a Response ({returns!r})")
        body: tuple[str, type[BaseModel]] | None = None
        if len(dependant.body_params) > 1:
            unsupported.append("more than one body parameter")
        elif dependant.body_params:
            field = dependant.body_params[0]
            info = field.field_info
            model = info.annotation
            if type(info) is not params.Body or info.embed or info.metadata:
                unsupported.append("a body that is not a plain JSON body (embedded, form, file "
                                   "or constrained)")
            elif not (isinstance(model, type) and issubclass(model, BaseModel)):
                unsupported.append(f"a body that is not one pydantic model ({model!r})")
            else:
                body = (field.name, model)
        resolvers: list[tuple[str, DirectResolver]] = []
        for dependency in dependant.dependencies:
            resolver = DIRECT_RESOLVERS.get(dependency.call) if dependency.call else None
            if resolver is None or dependency.name is None or dependency.own_oauth_scopes:
                unsupported.append(f"the dependency {dependency.call!r}")
            else:
                resolvers.append((dependency.name, resolver))
        if unsupported:
            raise TypeError(f"{path}: DirectRoute cannot serve {', '.join(unsupported)}")
        return cls(dependant, body, resolvers)

    async def respond(self, arguments: dict[str, Any]) -> Response:
        response = await self.call(**arguments)
        if not isinstance(response, Response):
            raise TypeError(f"{self.call.__name__}: a DirectRoute endpoint returns a Response")
        return response

    async def arguments(self, request: Request) -> dict[str, Any] | None:
        """The endpoint's arguments, or None for anything the standard handler must answer."""
        if request.app.dependency_overrides:
            return None
        values: dict[str, Any] = {}
        for fields, source in self.parameters:
            # Starlette builds query_params (and the others) anew on each access: only if used.
            found, errors = request_params_to_args(fields, getattr(request, source))
            if errors:
                return None
            values.update(found)
        if self.body is not None:
            name, model = self.body
            content_type = request.headers.get("content-type", "")
            if content_type.split(";", 1)[0].strip().lower() != "application/json":
                return None
            try:
                received = await request.body()
            except HTTPException:
                raise  # e.g. 413 from a body size limit (Starlette's), as FastAPI's handler
            except Exception:
                return None  # a client gone mid-body: FastAPI's handler answers it (400)
            try:
                values[name] = model.model_validate_json(received)
            except ValidationError:
                return None
        for name, resolve in self.resolvers:
            value = await resolve(request)
            if value is None:
                return None
            values[name] = value
        if self.dependant.request_param_name is not None:
            values[self.dependant.request_param_name] = request
        return values


def install_direct_lane(app: FastAPI) -> None:
    """Serve the well-formed requests of the app's fixed-path DirectRoutes from the router's
    place in the middleware stack (`DirectLane`); call it once the routes are included."""
    app.router.middleware_stack = DirectLane(app, app.router.middleware_stack)


class DirectLane:
    """The router's place in the app's middleware stack, with a lane in front of it: a request
    for a fixed-path DirectRoute (a method and path looked up in a dict) is served by the
    route's direct path, without the router's matching — in FastAPI 0.165, a walk through each
    included router's routes — and the per-route wrapping around the handler. Together they
    cost ≈ 13 % of a POST /v1/orders' CPU (docs/performance.md, "Orders").

    Everything outside the router stays as it is: ServerErrorMiddleware (500s), the app's body
    size limit and ExceptionMiddleware, whose handlers — the same ones a route applies —
    answer what the endpoint raises. Whatever the direct path cannot decide goes to the router
    itself, with the body already read replayed: FastAPI answers it as before. A route is laned
    only when the router would pick it too: no route before it matches its method and path,
    and it has no body size limit of its own. The lanes are made at the first request, when the
    routes are complete; a route added later is served by the router.
    """

    def __init__(self, app: FastAPI, routed: ASGIApp) -> None:
        self.app = app
        self.routed = routed  # the router's own handling, for everything else
        self._lanes: dict[tuple[str, str], _Lane] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            lane = self._made().get((scope["method"], get_route_path(scope)))
            if lane is not None:  # (the router's own matching would pick the same route)
                await lane.serve(scope, receive, send, self.routed)
                return
        await self.routed(scope, receive, send)

    def _made(self) -> dict[tuple[str, str], _Lane]:
        return self._lanes if self._lanes is not None else self._make_lanes()

    def _make_lanes(self) -> dict[tuple[str, str], _Lane]:
        contexts = list(iter_route_contexts(self.app.routes))
        lanes: dict[tuple[str, str], _Lane] = {}
        for index, context in enumerate(contexts):
            route, path = context.original_route, context.path
            if (not isinstance(route, DirectRoute) or not path
                    or getattr(context, "param_convertors", None)
                    or getattr(context, "max_body_size", None) is not None):
                continue
            plan = _DirectPlan.of(context.dependant, path)
            for method in context.methods or ():
                probe = {"type": "http", "method": method, "path": path, "root_path": ""}
                if not any(_matches(earlier, probe) for earlier in contexts[:index]):
                    lanes[(method, path)] = _Lane(route, context.endpoint, plan,
                                                  self.app.router)
        self._lanes = lanes
        return lanes

    def serves(self, method: str, path: str) -> bool:
        """Whether a request for `method` and `path` (within the app) takes a lane."""
        return (method, path) in self._made()


def _matches(route: Any, scope: Scope) -> bool:
    """Whether the router would pick `route` for `scope` (an unknown kind of route: yes)."""
    try:
        return bool(route.matches(dict(scope))[0] is Match.FULL)
    except Exception:
        return True


class _Lane:
    def __init__(self, route: DirectRoute, endpoint: Any, plan: _DirectPlan, router: Any
                 ) -> None:
        self.route, self.endpoint, self.router, self.plan = route, endpoint, router, plan

    async def serve(self, scope: Scope, receive: Receive, send: Send, routed: ASGIApp) -> None:
        received: list[Message] = []

        async def recording() -> Message:
            message = await receive()
            received.append(message)
            return message

        # What the router leaves in the scope for the route it picked: a router already there
        # (an app mounted in another) is kept, and so are the path parameters of a mount.
        scope.setdefault("router", self.router)
        scope.update(route=self.route, endpoint=self.endpoint,
                     path_params=dict(scope.get("path_params", {})))
        arguments = await self.plan.arguments(Request(scope, recording, send))
        if arguments is None:
            async def replaying() -> Message:
                return received.pop(0) if received else await receive()

            await routed(scope, replaying, send)
            return
        response = await self.plan.respond(arguments)
        await response(scope, receive, send)


def direct_route(router: Any, path: str, **options: Any
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`@router.api_route(path, …)` as a DirectRoute (FastAPI's decorators take no route class)."""

    def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path, endpoint, route_class_override=DirectRoute, **options)
        return endpoint

    return register
