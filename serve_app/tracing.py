"""A trace span per HTTP request when tracing is on (`storage.tracing`).

The span is named `HTTP <method> <route template>` (the template, not the path:
ids would make every name unique) and carries the status and the request id. A
caller's `traceparent` header makes it a child of the caller's trace. Off, the
middleware passes every request straight through.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage import tracing
from storage.telemetry import REQUEST_ID

_TRACEPARENT = b"traceparent"


class TracingMiddleware:
    """Pure ASGI; sits inside `RequestIdMiddleware` so the request id is known."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not tracing.enabled():
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == _TRACEPARENT), "")
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope["method"]
        with tracing.span(
            f"HTTP {method}",
            traceparent=incoming,
            kind="server",
            attributes={"http.request.method": method, "taskhive.request_id": REQUEST_ID.get()},
        ) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                _finish(span, scope, method, status)


def _finish(span: Any, scope: Scope, method: str, status: int) -> None:
    route = getattr(scope.get("route"), "path", None)
    if route:
        span.update_name(f"HTTP {method} {route}")
        span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR))
