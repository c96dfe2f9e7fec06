"""The direct lane takes exactly the paths FastAPI would route to the same endpoint,
binds only what it understands, and leaves everything else to FastAPI."""

from __future__ import annotations

import contextlib
import re
from typing import Any, cast
from uuid import UUID

import orjson
import pytest
from starlette.exceptions import HTTPException

from domain.errors import NotFound
from serve_app.app import app
from serve_app.context import AppContext, install_context
from serve_app.direct_lane import LANES, DirectLane, Fallthrough, Lane
from serve_app.schemas import TaskPatch

SAMPLE = "0b6f2c1e-3d4a-4b5c-8d6e-7f8091a2b3c4"
_PARAM = re.compile(r"\{[^}]+\}")


async def _routed(method: str, path: str) -> str | None:
    """The template of the route FastAPI's router picks for `method path`."""
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Any) -> None:
        return None

    # The endpoint fails without an installed context; the route is chosen by then.
    with contextlib.suppress(Exception):
        await app.router(scope, receive, send)
    route = scope.get("route")
    return getattr(route, "path", None)


def _paths(method: str) -> list[str]:
    return [p for p, ops in app.openapi()["paths"].items() if method.lower() in ops]


@pytest.mark.parametrize("lane", LANES, ids=lambda lane: f"{lane.method} {lane.path}")
async def test_a_lane_takes_exactly_the_paths_fastapi_routes_to_its_route(lane: Lane) -> None:
    assert lane.path in _paths(lane.method), "a lane answers only a declared route"
    for template in _paths(lane.method):
        for value in (SAMPLE, "WEB-42"):
            concrete = _PARAM.sub(value, template)
            taken, _ = lane.match(concrete)
            routed = await _routed(lane.method, concrete)
            assert taken == (routed == lane.path), (template, concrete, routed)


def test_reserved_segments_are_left_to_their_routes() -> None:
    lane = next(x for x in LANES if x.method == "GET" and x.path == "/api/v1/tasks/{ref}")
    assert lane.match("/api/v1/tasks/export") == (False, None)
    assert lane.match("/api/v1/tasks/WEB-7") == (True, "WEB-7")
    assert lane.match("/api/v1/tasks/") == (False, None)
    assert lane.match("/api/v1/tasks/WEB-7/comments") == (False, None)


def _lane(method: str, path: str) -> Lane:
    return next(x for x in LANES if x.method == method and x.path == path)


def test_query_binding_converts_exactly_or_falls_through() -> None:
    lane = _lane("GET", "/api/v1/tasks")
    bound = lane.bind_query(f"project_id={SAMPLE}&status=open&limit=20".encode())
    assert bound == {"project_id": UUID(SAMPLE), "status": "open", "limit": 20}
    for query in (
        "status=open",  # no project: the organisation-wide list is FastAPI's
        f"project_id={SAMPLE}&filter=assignee:me",  # a parameter the lane does not bind
        f"project_id={SAMPLE}&project_id={SAMPLE}",  # repeated
        f"project_id={SAMPLE.upper()}",  # not the canonical form
        f"project_id={SAMPLE.replace('-', '')}",
        f"project_id={SAMPLE}&limit=0",  # out of range: FastAPI's 422
        f"project_id={SAMPLE}&limit=201",
        f"project_id={SAMPLE}&limit=+5",
        f"project_id={SAMPLE}&status=" + "x" * 65,
    ):
        with pytest.raises(Fallthrough):
            lane.bind_query(query.encode())
    inbox = _lane("GET", "/api/v1/notifications")
    assert inbox.bind_query(b"unread=true&limit=100") == {"unread": True, "limit": 100}
    for query in ("unread=1", "unread=yes", "limit=101"):
        with pytest.raises(Fallthrough):
            inbox.bind_query(query.encode())


def test_body_binding_takes_json_of_the_model_only() -> None:
    lane = _lane("PATCH", "/api/v1/tasks/{ref}")
    json_scope = {"headers": [(b"content-type", b"application/json; charset=utf-8")]}
    bound = lane.bind_body(json_scope, b'{"status": "done"}')
    assert isinstance(bound, TaskPatch)
    assert bound.model_dump(exclude_unset=True) == {"status": "done"}
    for headers, raw in (
        ([(b"content-type", b"application/json")], b'{"status": '),  # not JSON
        ([(b"content-type", b"application/json")], b'{"priority": "very"}'),  # not the model
        ([(b"content-type", b"application/json")], b"[]"),
        ([(b"content-type", b"text/plain")], b'{"status": "done"}'),
        ([], b'{"status": "done"}'),  # no content type: FastAPI decides
    ):
        with pytest.raises(Fallthrough):
            lane.bind_body({"headers": headers}, raw)


async def test_without_a_context_every_request_goes_on_to_the_app() -> None:
    seen: list[str] = []

    async def downstream(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])

    middleware = DirectLane(downstream)
    scope = {"type": "http", "method": "GET", "path": "/api/v1/tasks/WEB-1", "headers": []}
    await middleware(scope, None, None)  # type: ignore[arg-type]
    assert seen == ["/api/v1/tasks/WEB-1"]
    assert "route" not in scope


async def _answer_of(handler: Any) -> tuple[int, dict[str, Any]]:
    """The status and problem body the lane sends when `handler` raises."""
    lane = Lane("GET", "/api/v1/things/{ref}", handler)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def fastapi(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("a request the lane took must not reach FastAPI")

    scope = {"type": "http", "method": "GET", "path": "/api/v1/things/x", "headers": []}
    install_context(cast(AppContext, object()))  # the handlers here never use it
    try:
        await DirectLane(fastapi, (lane,))(scope, None, send)  # type: ignore[arg-type]
    finally:
        install_context(None)
    start, body = sent
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    return start["status"], orjson.loads(body["body"])


async def test_the_lane_answers_every_error_as_fastapis_handlers_would() -> None:
    async def not_found(_: Any) -> Any:
        raise NotFound("task WEB-9 not found")

    async def http_error(_: Any) -> Any:
        raise HTTPException(405, "not here")

    async def bug(_: Any) -> Any:
        raise ZeroDivisionError("a bug")

    status, body = await _answer_of(not_found)
    assert (status, body["title"], body["detail"]) == (404, "Not found", "task WEB-9 not found")
    status, body = await _answer_of(http_error)
    assert (status, body["detail"]) == (405, "not here")
    status, body = await _answer_of(bug)
    assert status == 500
    assert body["detail"] == "an unexpected error occurred; it was logged"
