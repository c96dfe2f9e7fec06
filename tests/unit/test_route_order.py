"""Every API route answers its own paths: no route earlier in the dispatch order
takes them. The routers are included busiest first (routing tries routes in
order), so this is what keeps a reordering from shadowing a route, e.g.
`/api/v1/tasks/{ref}` swallowing `/api/v1/tasks/export`."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi.routing import _IncludedRouter
from starlette.routing import Match

from serve_app.app import app

_SAMPLES = {"uuid": str(uuid.UUID(int=7)), "int": "7", "path": "a/b", "str": "x-sample-7"}


def _dispatch_order() -> list[Any]:
    """The routes in the order requests are matched against them."""
    routes: list[Any] = []
    for route in app.router.routes:
        if isinstance(route, _IncludedRouter):
            routes.extend(route.effective_route_contexts())
        else:
            routes.append(route)
    return routes


def _sample_path(route: Any) -> str:
    def fill(m: re.Match[str]) -> str:
        name, _, kind = m.group(1).partition(":")
        convertor = route.param_convertors.get(name)
        kind = kind or type(convertor).__name__.removesuffix("Convertor").lower()
        return _SAMPLES.get(kind, _SAMPLES["str"])

    return re.sub(r"{([^}]+)}", fill, route.path_format)


def _first_match(routes: list[Any], method: str, path: str) -> Any:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


def test_each_api_route_is_the_first_to_match_its_own_paths() -> None:
    routes = _dispatch_order()
    checked = 0
    for route in routes:
        path_format = getattr(route, "path_format", "")
        if not path_format.startswith("/api/"):
            continue
        path = _sample_path(route)
        for method in sorted(route.methods or ()):
            first = _first_match(routes, method, path)
            assert first is route, (
                f"{method} {path} ({path_format}) is taken by "
                f"{getattr(first, 'path_format', first)!r} earlier in the order"
            )
            checked += 1
    assert checked > 100  # every API route was looked at


def test_the_busiest_routes_come_first() -> None:
    """Task reads, the board, the inbox and search are most of the traffic: each is
    among the first routes tried, not behind a hundred others."""
    routes = _dispatch_order()
    hot = {
        ("GET", f"/api/v1/tasks/{uuid.uuid4()}"),
        ("GET", "/api/v1/tasks"),
        ("PATCH", f"/api/v1/tasks/{uuid.uuid4()}"),
        ("GET", f"/api/v1/projects/{uuid.uuid4()}/board"),
        ("GET", "/api/v1/notifications"),
        ("GET", "/api/v1/search"),
        ("POST", f"/api/v1/tasks/{uuid.uuid4()}/comments"),
    }
    for method, path in hot:
        route = _first_match(routes, method, path)
        assert route is not None, (method, path)
        assert routes.index(route) < 50, (method, path, routes.index(route))
