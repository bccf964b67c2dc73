"""Domain errors carry their HTTP status and a message a portal can show to a person.

They are rendered once, centrally, as RFC 9457 problem details (`application/problem+json`).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.db import UNSTORABLE_VALUE, is_transient, is_unstorable_value

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://kommunmobil.varnamo.se/problems/"
log = logging.getLogger(__name__)


class DomainError(Exception):
    status: int = 400
    code: str = "bad-request"
    title: str = "The request cannot be carried out"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflicts with the current state"


class RuleViolation(DomainError):
    """A guideline rule forbids this; the detail names the rule."""

    status, code, title = 422, "rule-violation", "Not allowed by the guideline"


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Not allowed"


class IdentityProviderUnavailable(DomainError):
    """The identity provider's signing keys cannot be fetched: nobody's token can be checked."""

    status, code, title = 503, "unavailable", "Temporarily unavailable"


def problem(
    status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> JSONResponse:
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        response = problem(exc.status, exc.code, exc.title, exc.detail, request.url.path,
                           **exc.extra)
        if exc.status == 503:
            response.headers["Retry-After"] = "2"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_name(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(
            422, "invalid-request", "The request has invalid fields", detail,
            request.url.path, errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code, f"http-{exc.status_code}", str(exc.detail), str(exc.detail),
            request.url.path,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _failure(request, exc)

    # A value the database refuses (raised by asyncpg, or wrapped by SQLAlchemy) is answered
    # here, inside the app, rather than by the catch-all above, which Starlette's
    # ServerErrorMiddleware re-raises to the server as a crash: it is the caller's input.
    for refused in (*UNSTORABLE_VALUE, sa_exc.DataError):
        app.add_exception_handler(refused, unexpected)  # type: ignore[arg-type]


def _failure(request: Request, exc: Exception) -> JSONResponse:
    if is_unstorable_value(exc):
        return problem(
            422, "invalid-request", "The request has invalid fields",
            "A value in the request cannot be stored: a text with a NUL character (\\u0000), "
            "or a number out of range. Correct it and send the request again. Nothing was "
            "changed.", request.url.path,
        )
    if is_transient(exc):
        log.warning("database unavailable on %s: %r", request.url.path, exc)
        response = problem(
            503, "unavailable", "Temporarily unavailable",
            "The service cannot reach its database right now; nothing was changed. "
            "Please try again in a moment.", request.url.path,
        )
        response.headers["Retry-After"] = "2"
        return response
    log.exception("unhandled error on %s", request.url.path)
    return problem(
        500, "internal", "Internal error",
        "Something went wrong on our side; nothing was changed. Please try again.",
        request.url.path,
    )
