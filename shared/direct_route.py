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
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

from fastapi import HTTPException, Request, Response, params
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_typed_return_annotation, request_params_to_args
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

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
            response = await plan.call(**arguments)
            if not isinstance(response, Response):
                raise TypeError(f"{self.path}: a DirectRoute endpoint returns a Response")
            return response

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
                raise  # e.g. 413 from a body size limit: FastAPI's handler re-raises it too
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


def direct_route(router: Any, path: str, **options: Any
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`@router.api_route(path, …)` as a DirectRoute (FastAPI's decorators take no route class)."""

    def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path, endpoint, route_class_override=DirectRoute, **options)
        return endpoint

    return register
