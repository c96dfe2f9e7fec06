"""RFC 9457 problem details for every error the API returns.

Domain errors map by their `status`; request validation errors list the
offending fields; anything unexpected is logged and answered with a generic 500
that reveals nothing of the internals.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import (
    DomainError,
    PreconditionFailed,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)
from storage.breaker import as_unavailable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://taskhive.dev/problems/"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {
        "type": _TYPE_BASE + (type_ or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _validation_errors(errors: Any) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]


def domain_problem(exc: DomainError) -> Response:
    headers: dict[str, str] = {}
    extra: dict[str, Any] = exc.extra()
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="taskhive"'
    if isinstance(exc, Unavailable):
        headers["Retry-After"] = str(getattr(exc, "retry_after", 1))
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, PreconditionFailed) and exc.current_version is not None:
        extra["current_version"] = exc.current_version
        headers["ETag"] = f'"{exc.current_version}"'
    return problem(exc.status, exc.title, exc.detail, headers=headers, **extra)


async def _domain_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return domain_problem(exc)


async def _request_validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc.errors())
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
    detail = f"{where}: {first['msg']}"
    return problem(422, "Invalid input", detail, errors=errors)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return http_problem(exc)


def http_problem(exc: StarletteHTTPException) -> Response:
    titles = {404: "Not found", 405: "Method not allowed", 413: "Content too large"}
    title = titles.get(exc.status_code, "Error")
    return problem(exc.status_code, title, str(exc.detail), headers=dict(exc.headers or {}))


def unexpected_problem(method: str, path: str, exc: Exception) -> Response:
    if (outage := as_unavailable(exc)) is not None:  # a dependency is down: 503, not 500
        return domain_problem(outage)
    log.exception("unhandled error on %s %s", method, path, exc_info=exc)
    return problem(500, "Internal server error", "an unexpected error occurred; it was logged")


async def _unexpected(request: Request, exc: Exception) -> Response:
    return unexpected_problem(request.method, request.url.path, exc)


#: Errors of a dependency (PostgreSQL, Redis, the network), answered inside the
#: middleware stack.
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    SQLAlchemyError,
    RedisError,
    asyncpg.PostgresError,
)


def problem_for(method: str, path: str, exc: Exception) -> Response:
    """The answer `install`'s handlers give to `exc`, for code that runs outside
    FastAPI's stack (the direct lane)."""
    if isinstance(exc, DomainError):
        return domain_problem(exc)
    if isinstance(exc, StarletteHTTPException):
        return http_problem(exc)
    return unexpected_problem(method, path, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    # Handled inside the middleware stack (unlike `Exception`), so outage 503s carry
    # the request id and are counted with their real status.
    for dependency_error in DEPENDENCY_ERRORS:
        app.add_exception_handler(dependency_error, _unexpected)
