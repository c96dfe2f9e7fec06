"""The direct lane: the busiest endpoints answered without FastAPI's routing and
dependency resolution.

A task read costs the API replica a reference lookup (usually cached) and one call
to the project's host, yet FastAPI's route matching, dependency solving and
exception middleware took about a third of the replica's CPU on it. This ASGI
middleware sits innermost in the stack (inside the rate limit, metrics, tracing
and request id), recognises a few `(method, path)` shapes itself, binds their few
parameters and calls the very functions the FastAPI routes call.

It is conservative on purpose. A request it does not fully understand goes on to
FastAPI unchanged: an unknown or repeated query parameter, a value it cannot
convert exactly (a UUID not in its canonical form, a number out of range), a body
that is not JSON of the expected shape, any other content type. FastAPI then gives
the canonical answer, including its validation errors. Errors the shared functions
raise are answered as FastAPI's handlers answer them (`problems.problem_for`).
The routes stay declared in FastAPI, so the OpenAPI document is the same.
The lane sits outside FastAPI's own middleware stack, so what it takes costs no
FastAPI frame at all.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

import orjson
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.views import TaskQuery
from domain.permissions import Action
from serve_app import problems
from serve_app.access import authorize_project
from serve_app.context import AppContext, bearer_of, installed_context, principal_for
from serve_app.planning_schemas import MoveIn
from serve_app.routes.comments import CommentIn, comment_on
from serve_app.routes.notifications import inbox_page
from serve_app.routes.search import search_page
from serve_app.routes.task_flow import move_task
from serve_app.routes.tasks import create_task_in, project_tasks_page, read_task, update_task
from serve_app.routes.workflow import board_response
from serve_app.schemas import TaskIn, TaskPatch
from serve_app.security import Principal
from storage.telemetry import DIRECT_LANE_REQUESTS

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DIGITS = re.compile(r"[0-9]{1,9}")


class Fallthrough(Exception):
    """The lane does not take this request: FastAPI answers it."""


# -- parameters ----------------------------------------------------------------------

Convert = Callable[[str], Any]


def uuid_value(raw: str) -> UUID:
    if not _CANONICAL_UUID.fullmatch(raw):
        raise Fallthrough
    return UUID(raw)


def integer(low: int, high: int) -> Convert:
    def convert(raw: str) -> int:
        if not _DIGITS.fullmatch(raw) or not low <= (value := int(raw)) <= high:
            raise Fallthrough
        return value

    return convert


def text(max_length: int | None = None) -> Convert:
    def convert(raw: str) -> str:
        if max_length is not None and len(raw) > max_length:
            raise Fallthrough
        return raw

    return convert


def boolean(raw: str) -> bool:
    if raw not in ("true", "false"):
        raise Fallthrough
    return raw == "true"


# -- requests ------------------------------------------------------------------------


@dataclass(slots=True)
class Call:
    """One request the lane took: its context, parameters and (validated) body."""

    ctx: AppContext
    scope: Scope
    param: Any
    query: dict[str, Any]
    body: Any = None

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return str(value.decode("latin-1"))
        return None

    async def principal(self) -> Principal:
        return await principal_for(self.ctx, self.method, bearer_of(self.scope))


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Lane:
    """One `(method, path template)` the lane answers. The template has at most one
    `{parameter}`, a whole path segment; `path` is what metrics and traces name the
    route by, as for FastAPI's routes."""

    method: str
    path: str
    handler: Handler
    #: The query parameters it binds, with their conversions; any other falls through.
    query: Mapping[str, Convert] = field(default_factory=dict)
    #: Query parameters without which it falls through.
    required: frozenset[str] = frozenset()
    #: The path parameter's conversion.
    param: Convert = field(default=str)
    #: Segments other routes own where this one has its parameter (`/tasks/export`).
    reserved: frozenset[str] = frozenset()
    #: The JSON body's model, if it takes one.
    body: type[BaseModel] | None = None
    prefix: str = field(init=False)
    suffix: str = field(init=False)
    counter: Any = field(init=False)

    def __post_init__(self) -> None:
        head, _, rest = self.path.partition("{")  # head is the whole path without one
        object.__setattr__(self, "prefix", head)
        object.__setattr__(self, "suffix", rest.partition("}")[2])
        object.__setattr__(self, "counter", DIRECT_LANE_REQUESTS.labels(self.method, self.path))

    def match(self, path: str) -> tuple[bool, str | None]:
        """Whether `path` is this lane's, and its parameter's raw value."""
        if "{" not in self.path:
            return path == self.prefix, None
        if not (path.startswith(self.prefix) and path.endswith(self.suffix)):
            return False, None
        if len(path) <= len(self.prefix) + len(self.suffix):
            return False, None
        segment = path[len(self.prefix) : len(path) - len(self.suffix)]
        if "/" in segment or segment in self.reserved:
            return False, None
        return True, segment

    def bind_query(self, query_string: bytes) -> dict[str, Any]:
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        values: dict[str, Any] = {}
        for name, raw in pairs:
            convert = self.query.get(name)
            if convert is None or name in values:
                raise Fallthrough
            values[name] = convert(raw)
        if not self.required <= values.keys():
            raise Fallthrough
        return values

    def bind_body(self, scope: Scope, raw: bytes) -> Any:
        assert self.body is not None
        content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
        if content_type.split(b";")[0].strip().lower() != b"application/json":
            raise Fallthrough
        try:
            return self.body.model_validate(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValidationError):
            raise Fallthrough from None


# -- the middleware ------------------------------------------------------------------


class DirectLane:
    """Pure ASGI; the innermost of Taskhive's middlewares, outside FastAPI's stack
    (`serve_app.app.TaskhiveAPI`). A request it takes never reaches FastAPI's error
    handling, so it answers every error itself as FastAPI's handlers would."""

    def __init__(self, app: ASGIApp, lanes: tuple[Lane, ...] | None = None) -> None:
        self.app = app
        self.lanes: dict[str, tuple[Lane, ...]] = {}
        for lane in LANES if lanes is None else lanes:
            self.lanes[lane.method] = (*self.lanes.get(lane.method, ()), lane)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = installed_context()
        if scope["type"] != "http" or ctx is None:
            await self.app(scope, receive, send)
            return
        for lane in self.lanes.get(scope["method"], ()):
            matched, raw = lane.match(scope["path"])
            if matched:
                await self._take(lane, raw, ctx, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _take(
        self,
        lane: Lane,
        raw: str | None,
        ctx: AppContext,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        body: bytes | None = None  # the request body, once the lane has read it
        try:
            call = Call(
                ctx,
                scope,
                None if raw is None else lane.param(raw),
                lane.bind_query(scope.get("query_string", b"")),
            )
            if lane.body is not None:
                body, disconnected = await _read_body(receive)
                if disconnected:
                    return
                call.body = lane.bind_body(scope, body)
        except Fallthrough:
            # An empty body read is read all the same: FastAPI must be handed it again.
            await self.app(scope, receive if body is None else _replay(body, receive), send)
            return
        scope["route"] = lane
        lane.counter.inc()
        try:
            response = await lane.handler(call)
        except Exception as exc:
            response = problems.problem_for(scope["method"], scope["path"], exc)
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` with the body the lane read handed out again first."""
    pending = True

    async def again() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


# -- the lanes -----------------------------------------------------------------------


async def _get_task(call: Call) -> Response:
    return await read_task(call.ctx, await call.principal(), call.param)


async def _update_task(call: Call) -> Response:
    return await update_task(
        call.ctx,
        await call.principal(),
        call.param,
        call.body,
        method=call.method,
        path=call.path,
        if_match=call.header(b"if-match"),
    )


async def _project_tasks(call: Call) -> Response:
    query = call.query
    return await project_tasks_page(
        call.ctx,
        await call.principal(),
        query["project_id"],
        query.get("cursor"),
        status=query.get("status"),
        limit=query.get("limit", 50),
    )


async def _board(call: Call) -> Response:
    principal = await call.principal()
    await authorize_project(call.ctx, principal, call.param, Action.READ)
    limit = call.query.get("limit", 200)
    query = TaskQuery(status=call.query.get("status"))
    return await board_response(call.ctx, principal, call.param, query, limit)


async def _inbox(call: Call) -> Response:
    query = call.query
    return await inbox_page(
        call.ctx,
        await call.principal(),
        unread=query.get("unread", False),
        limit=query.get("limit", 50),
        cursor=query.get("cursor"),
    )


async def _create_task(call: Call) -> Response:
    principal = await call.principal()
    return await create_task_in(call.ctx, principal, call.body, call.header(b"idempotency-key"))


async def _move(call: Call) -> Response:
    return await move_task(call.ctx, await call.principal(), call.param, call.body, path=call.path)


async def _comment(call: Call) -> Response:
    principal = await call.principal()
    key = call.header(b"idempotency-key")
    return await comment_on(call.ctx, principal, call.param, call.body, key)


async def _search(call: Call) -> Response:
    query = call.query
    return await search_page(
        call.ctx,
        await call.principal(),
        q=query.get("q", ""),
        filters=query.get("filters", ""),
        limit=query.get("limit", 20),
        cursor=query.get("cursor"),
    )


_TASK_SEGMENTS = frozenset({"export"})

LANES: tuple[Lane, ...] = (
    Lane("GET", "/api/v1/tasks/{ref}", _get_task, reserved=_TASK_SEGMENTS),
    Lane("PATCH", "/api/v1/tasks/{ref}", _update_task, reserved=_TASK_SEGMENTS, body=TaskPatch),
    Lane("PUT", "/api/v1/tasks/{ref}", _update_task, reserved=_TASK_SEGMENTS, body=TaskPatch),
    Lane(
        "GET",
        "/api/v1/tasks",
        _project_tasks,
        query={
            "project_id": uuid_value,
            "status": text(64),
            "limit": integer(1, 200),
            "cursor": text(),
        },
        required=frozenset({"project_id"}),
    ),
    Lane(
        "GET",
        "/api/v1/projects/{project_id}/board",
        _board,
        query={"status": text(64), "limit": integer(1, 1000)},
        param=uuid_value,
    ),
    Lane("POST", "/api/v1/tasks", _create_task, body=TaskIn),
    Lane("POST", "/api/v1/tasks/{ref}/move", _move, body=MoveIn),
    Lane("POST", "/api/v1/tasks/{ref}/comments", _comment, body=CommentIn),
    Lane(
        "GET",
        "/api/v1/search",
        _search,
        query={
            "q": text(500),
            "filters": text(2000),
            "limit": integer(1, 100),
            "cursor": text(),
        },
    ),
    Lane(
        "GET",
        "/api/v1/notifications",
        _inbox,
        query={"unread": boolean, "limit": integer(1, 100), "cursor": text()},
    ),
)
