"""How the replica's uvicorn serves websockets and HTTP requests.

Serve starts each replica's HTTP server itself (`uvicorn.Config(...)` in
`ray.serve._private.http_util`), without a way to pass uvicorn's options.
`configure_server` makes the replica's uvicorn default to ours; call it in the
deployment's constructor, which Serve runs before it starts the replica's
server.

For HTTP requests, a response's status line and headers and its body leave in
one socket write (`CorkedHttpToolsProtocol`, see `CorkedTransport` below) rather
than one each: a system call fewer per response here, and a read fewer in
HAProxy. And two layers of per-request work that buy nothing here go:

- Serve's watch for a client that disconnects mid-request. Unless a request
  carries Serve's `x-request-disconnect-disabled: ?1`, the replica runs the app in
  a task of its own beside a second task that relays the request body through a
  queue and waits on both (to cancel the app when the client leaves). The server
  adds the header to every HTTP request it receives, so the app is awaited
  directly and reads the body straight from uvicorn. Requests here last
  milliseconds; a write must not be cancelled halfway anyway (its command may
  already be with the project's host); Starlette's streaming responses (exports)
  still stop when their client leaves, by listening for the disconnect themselves.
  In the spread-write profile the watch (two tasks, the queue, `asyncio.wait`)
  was 6 to 8 % of the API replica's samples.
- uvicorn's proxy-headers middleware, which would take the caller's address from
  `X-Forwarded-For` as sent to HAProxy, unchecked. Nothing here reads the ASGI
  client address; `serve_app.client_address` reads the header itself, and only
  when configured to trust it.

For websockets, two choices:

- Compression (permessage-deflate) only when configured. Deflating a fan-out
  message costs the replica CPU per session (the same event is compressed once
  per subscriber, each with its own context) and each session keeps a compressor
  (about 64 KiB).
- Frames written during one event-loop turn leave in one socket write
  (`CorkedTransport`). Each message is still its own websocket frame; what changes
  is the number of system calls. When the fan-out hands a session several events
  at once (a burst on its project, or a replica catching up under load), they
  cost one write here, one read and one write in the proxy in front, and one read
  in the client, instead of one each per frame. A frame waits at most until the
  end of the turn it was written in.

And one lane past the ASGI layers (`FRAMES_EXTENSION` in the connection's scope):
a fan-out event is the same frame for every session that receives it (a server's
frames are not masked), so its bytes are built once (`text_frame`) and written to
each connection as they are, instead of each session handing the text through
Starlette, Serve and uvicorn to be framed again. The lane writes only where the
ASGI path would have written the same bytes: an open connection without
extensions (no compression); otherwise it declines and the message goes the usual
way.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, cast

import uvicorn
from ray.serve._private.constants import SERVE_HTTP_REQUEST_DISCONNECT_DISABLED_HEADER
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State

#: The scope extension offering the lane: {"loop": the connection's event loop,
#: "send": an async callable taking a frame from `text_frame`, returning whether it
#: was written (False: send the message through ASGI instead), "send_now": the
#: same without waiting, False also when the frame cannot be written at once}.
FRAMES_EXTENSION = "taskhive.frames"


def text_frame(payload: bytes) -> bytes:
    """A complete, unmasked, unfragmented text frame carrying UTF-8 `payload`."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


class _Flusher:
    """One callback per event-loop turn that passes on what every corked transport
    of the loop held during it (one callback per connection and turn cost more
    than the write it saved when a turn wrote one frame)."""

    __slots__ = ("_loop", "_pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: list[CorkedTransport] = []

    def add(self, transport: CorkedTransport) -> None:
        if not self._pending:
            self._loop.call_soon(self._run)
        self._pending.append(transport)

    def _run(self) -> None:
        pending, self._pending = self._pending, []
        for transport in pending:
            transport.flush()


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = (
    weakref.WeakKeyDictionary()
)


def _flusher(loop: asyncio.AbstractEventLoop) -> _Flusher:
    found = _flushers.get(loop)
    if found is None:
        found = _flushers[loop] = _Flusher(loop)
    return found


class CorkedTransport:
    """An asyncio transport that holds the writes of one event-loop turn and passes
    them to the real transport together when the turn ends. Everything else is
    the real transport's."""

    __slots__ = ("_flusher", "_held", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._flusher = _flusher(loop)
        self._held: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._held is None:
            self._held = [bytes(data)]
            self._flusher.add(self)
        else:
            self._held.append(bytes(data))

    def writelines(self, parts: Any) -> None:
        for data in parts:
            self.write(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        held = sum(len(d) for d in self._held) if self._held else 0
        return held + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol over a `CorkedTransport`: a response's head and body,
    written in one turn, leave in one socket write instead of two."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        corked = CorkedTransport(transport, asyncio.get_running_loop())
        super().connection_made(cast(asyncio.Transport, corked))


class CorkedWebSocketsProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol over a `CorkedTransport`, offering the frames
    lane to the application."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, hence the cast.
        # The loop is the one running this connection: uvicorn's `self.loop` may
        # be another thread's (Serve runs the server on a loop of its own).
        corked = CorkedTransport(cast(asyncio.Transport, transport), asyncio.get_running_loop())
        super().connection_made(corked)  # type: ignore[arg-type]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # unset when the handshake was refused
        if scope is not None:
            scope["extensions"][FRAMES_EXTENSION] = {
                "loop": asyncio.get_running_loop(),
                "send": self.send_frame,
                "send_now": self.send_frame_now,
            }

    async def send_frame(self, frame: bytes) -> bool:
        """Write `frame` (from `text_frame`) as it is; False when this connection
        needs its messages framed by the protocol (before the handshake, after a
        close, with an extension such as compression)."""
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected
        if not self._takes_frames():
            return False
        self.transport.write(frame)
        return True

    def send_frame_now(self, frame: bytes) -> bool:
        """`send_frame` without waiting: False also when the connection cannot take
        it at once (its transport's buffer is full, or it is gone); the caller then
        sends it the way that waits."""
        if self.disconnected or not self.writable.is_set() or not self._takes_frames():
            return False
        self.transport.write(frame)
        return True

    def _takes_frames(self) -> bool:
        return not (
            not self.handshake_complete
            or self.close_sent
            or self.initial_response is not None
            or self.conn.extensions
            or self.conn.state is not State.OPEN
        )


#: Serve's request header that makes a replica skip watching for the client's
#: disconnect (see the module docstring).
_NO_DISCONNECT_WATCH = (SERVE_HTTP_REQUEST_DISCONNECT_DISABLED_HEADER.encode(), b"?1")


def unwatched(app: ASGIApp) -> ASGIApp:
    """`app` with every HTTP request marked not to be watched for disconnects."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["headers"] = [*scope["headers"], _NO_DISCONNECT_WATCH]
        await app(scope, receive, send)

    return asgi


def configure_server(*, compression: bool) -> None:
    """Make uvicorn servers created from now on in this process serve websockets
    with `CorkedWebSocketsProtocol`, offering permessage-deflate only if
    `compression`, and HTTP with `CorkedHttpToolsProtocol`, without the
    disconnect watch or the proxy-headers middleware (explicit arguments still
    win). The app of a server (`factory=True`, as Serve makes it) is wrapped; a
    `Config` made for other uses (Serve runs the app's lifespan through one) is
    left as it is."""
    base = getattr(uvicorn.Config, "_taskhive_base", uvicorn.Config)

    class Config(base):  # type: ignore[misc, valid-type]
        _taskhive_base = base

        def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("ws_per_message_deflate", compression)
            kwargs.setdefault("ws", CorkedWebSocketsProtocol)
            kwargs.setdefault("http", CorkedHttpToolsProtocol)
            kwargs.setdefault("proxy_headers", False)
            if kwargs.get("factory") and callable(app):
                make = app
                app = lambda: unwatched(make())  # noqa: E731
            super().__init__(app, *args, **kwargs)

    uvicorn.Config = Config  # type: ignore[misc]
