"""Request ids: one per HTTP request or websocket, in logs, responses and project hosts.

A caller's `X-Request-ID` is kept when it is a sane token (1 to 128 characters of
`[A-Za-z0-9._:-]`), so a load balancer's or a client's id follows the request
through; anything else is replaced by a fresh one rather than refused, since the
header is only a correlation aid.

Under Ray Serve the replica's own request-id middleware runs first: it takes
the caller's `X-Request-ID` (or makes a UUID), puts it in the request headers
and echoes it in the response, so here the id is taken as Serve passed it (its
logs and ours then agree) and not echoed a second time. Outside Serve this
middleware applies the rule above and echoes the id itself.

The id is set in
`storage.telemetry.REQUEST_ID` for log records (`serve_app.logging`), and goes
with the calls the request makes on project hosts (`actors.router` →
`ProjectHost.invoke`), whose log records then carry it too.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage.telemetry import REQUEST_ID

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode()
_VALID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_id(scope: Scope) -> str:
    """The caller's request id if it is acceptable, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == _HEADER_KEY:
            return value.decode("ascii") if _VALID.fullmatch(value) else new_request_id()
    return new_request_id()


def _serve_id(scope: Scope) -> str | None:
    """The id Ray Serve chose for this request, when running in a Serve replica."""
    if not _in_serve_replica():
        return None
    for name, value in scope.get("headers", ()):
        if name == _HEADER_KEY:
            return str(value.decode("latin-1"))[:128]
    return None


_serve_replica: list[bool] = []  # decided once per process


def _in_serve_replica() -> bool:
    if not _serve_replica:
        from ray import serve
        from ray.serve.exceptions import RayServeException

        try:
            serve.get_replica_context()
            _serve_replica.append(True)
        except RayServeException:
            _serve_replica.append(False)
    return _serve_replica[0]


class RequestIdMiddleware:
    """Pure ASGI, outermost but for the upload bound: even a 413 or 429 carries the id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        serve_id = _serve_id(scope)
        request_id = serve_id or accepted_id(scope)
        token = REQUEST_ID.set(request_id)
        header = (_HEADER_KEY, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                headers = [h for h in message.get("headers", ()) if h[0] != _HEADER_KEY]
                message["headers"] = [*headers, header]
            await send(message)

        try:
            await self.app(scope, receive, send if serve_id else send_with_id)
        finally:
            REQUEST_ID.reset(token)
