"""A lean call path to an actor (a project host, a search shard), beside Ray's actor calls.

A Ray actor call costs about 0.8 ms of CPU in the caller and 0.9 ms in the actor
on a 2-core machine (`python -m bench.host_channel`), while the project read it
carries costs microseconds. So each host also listens on a TCP port of its node,
and each replica keeps one connection per host over which it sends the host's
request methods (`actors.host.CHANNEL_METHODS`): frames of a length, a request id and the pickled call,
answered out of order as each completes. The host runs the very method a Ray call
would run, on the same event loop, so what a read sees, how a write is
serialised by its grain, and why the history is linearizable do not change;
only the transport does.

Frames: `!IQ` header (payload length, request id), then the payload. The first
frame a connection sends is the host's token (request id 0); after it, requests
are `pickle((method, (request id, traceparent), args))` and replies
`pickle((ok, value))`, `value` the result or the exception raised.

Trust: a host makes a random token when it starts listening and hands it out only
through a Ray call (`ProjectHost.channel_address`), so only processes of the Ray
cluster learn it; nothing is unpickled before a connection presented it.

Failure: anything that breaks the transport (host restarted, connection reset, a
stale address) raises `ChannelClosed` in the caller, and `actors.router.HostRouter`
then makes the same call through Ray, whose retry rules apply. A read whose reply
was lost is simply asked again; a write (`apply`) always carries an idempotency
key, and the retry has the grain look it up before deciding anything, so a write
that committed before its reply was lost answers with its first reply. A host
never cancels a call whose connection dropped: the write finishes either way.
A call with no reply within `CALL_TIMEOUT_S` raises `CallTimedOut` (the router
answers 503: a stuck host would hold the Ray retry just the same).
`TASKHIVE_HOST_CHANNEL=0` turns the channel off.

Search shards listen the same way, for searches from replicas and the relay's
changes (`search.shards.ShardHandles.call`); a server runs only the methods it
was given. `Channels` keeps a caller's open channels by actor name.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import pickle
import secrets
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

log = logging.getLogger(__name__)

ENV = "TASKHIVE_HOST_CHANNEL"
#: A larger request goes through Ray instead (an import's batch of tasks may); a host
#: closes a connection that sends one.
MAX_REQUEST = 1 << 24
#: A reply larger than this closes the connection (a board or a page of tasks is far smaller).
MAX_REPLY = 1 << 28

#: After an actor's channel could not be opened, calls go through Ray for this long.
RETRY_S = 1.0
#: How long a caller waits for a reply (the brief's write p99 is 0.5 s; a host's
#: own statements give up after 10 s): past it the host is taken to be stuck.
CALL_TIMEOUT_S = 30.0

_HEADER = struct.Struct("!IQ")
_HELLO = 0

#: What a host runs for a request: `(method, (request id, traceparent), args)`.
Dispatch = Callable[[str, tuple[str, str], tuple[Any, ...]], Awaitable[Any]]
#: Where a host listens, and the token a connection must present: `(ip, port, token)`.
Address = tuple[str, int, bytes]


def enabled() -> bool:
    """Whether replicas send host reads over the channel (`TASKHIVE_HOST_CHANNEL`, default on)."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "off", "false", "no")


class ChannelClosed(ConnectionError):
    """The channel cannot carry the call (any more): make it through Ray instead."""


class CallTimedOut(TimeoutError):
    """No reply within the call's deadline. The call may still run (or have run) on
    the actor: a write's outcome is unknown, and making it again through Ray would
    wait on the same stuck actor."""


class _Frames:
    """Splits a byte stream into `(request id, payload)` frames."""

    def __init__(self, limit: int) -> None:
        self._buf = bytearray()
        self._limit = limit

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """The frames completed by `data`; raises `ValueError` on an oversized frame."""
        self._buf += data
        frames = []
        start = 0
        while len(self._buf) - start >= _HEADER.size:
            size, rid = _HEADER.unpack_from(self._buf, start)
            if size > self._limit:
                raise ValueError(f"frame of {size} bytes exceeds {self._limit}")
            end = start + _HEADER.size + size
            if len(self._buf) < end:
                break
            frames.append((rid, bytes(self._buf[start + _HEADER.size : end])))
            start = end
        if start:
            del self._buf[:start]
        return frames


def _frame(rid: int, payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), rid) + payload


class _Coalescer:
    """Frames put in one turn of the event loop leave in one write, one system call:
    under load many calls and replies share it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._frames: list[bytes] = []

    def put(self, frame: bytes) -> None:
        if not self._frames:
            asyncio.get_running_loop().call_soon(self._flush)
        self._frames.append(frame)

    def _flush(self) -> None:
        frames, self._frames = self._frames, []
        if not self._transport.is_closing():
            self._transport.write(b"".join(frames))


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling, else a `RuntimeError` that names it."""
    try:
        pickle.dumps(exc, protocol=5)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


# -- the host's side ---------------------------------------------------------------


class ChannelServer:
    """Listens for callers on behalf of one actor (a project host, a search shard),
    running the calls `methods` names through `dispatch`. Use from the actor's
    event loop."""

    def __init__(self, dispatch: Dispatch, methods: frozenset[str]) -> None:
        self._dispatch = dispatch
        self._methods = methods
        self._listening: asyncio.Task[Address] | None = None
        self._token = secrets.token_bytes(32)
        self._server: asyncio.Server | None = None
        self._address: Address | None = None
        self.calls = 0

    async def start(self, ip: str) -> Address:
        """Listen on `ip` (an ephemeral port); returns where, with the token."""
        if self._address is None:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(lambda: _ServerProtocol(self), ip, 0)
            port = self._server.sockets[0].getsockname()[1]
            self._address = (ip, port, self._token)
            log.info("host channel listening on %s:%d", ip, port)
        return self._address

    async def listen(self) -> Address:
        """Where this server listens, and its token: started on first use, on this
        Ray node's address (loopback outside Ray); concurrent first callers share
        the start, and a failed start is tried again by the next caller. Hand the
        address out only through Ray calls."""
        if self._listening is None:
            import ray

            ip = ray.util.get_node_ip_address() if ray.is_initialized() else "127.0.0.1"  # type: ignore[no-untyped-call]
            self._listening = asyncio.create_task(self.start(ip))
        try:
            return await asyncio.shield(self._listening)
        except OSError:
            self._listening = None
            raise

    def authentic(self, token: bytes) -> bool:
        return hmac.compare_digest(token, self._token)

    async def run(self, payload: bytes) -> bytes:
        """The reply to one request frame."""
        self.calls += 1
        try:
            method, context, args = pickle.loads(payload)  # noqa: S301 - authenticated peer
            if method not in self._methods:
                raise ValueError(f"not a channel method: {method!r}")
            reply: tuple[bool, Any] = (True, await self._dispatch(method, context, args))
        except Exception as exc:
            reply = (False, _portable(exc))
        try:
            return pickle.dumps(reply, protocol=5)
        except Exception as exc:  # an unpicklable result: the caller sees why
            return pickle.dumps((False, _portable(exc)), protocol=5)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


class _ServerProtocol(asyncio.Protocol):
    def __init__(self, server: ChannelServer) -> None:
        self._server = server
        self._frames = _Frames(MAX_REQUEST)
        self._authed = False
        self._transport: asyncio.Transport | None = None
        self._out: _Coalescer | None = None
        self._running: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not registered as `asyncio.Transport` subclasses.
        self._transport = cast(asyncio.Transport, transport)
        self._out = _Coalescer(self._transport)

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        try:
            frames = self._frames.feed(data)
        except ValueError as exc:
            log.warning("host channel: closing a connection: %s", exc)
            self._transport.close()
            return
        for rid, payload in frames:
            if not self._authed:
                if rid != _HELLO or not self._server.authentic(payload):
                    log.warning("host channel: closing a connection without the token")
                    self._transport.close()
                    return
                self._authed = True
                continue
            task = asyncio.get_running_loop().create_task(self._answer(rid, payload))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _answer(self, rid: int, payload: bytes) -> None:
        reply = await self._server.run(payload)
        if self._out is not None:
            self._out.put(_frame(rid, reply))


# -- the replica's side --------------------------------------------------------------


class Channel:
    """One replica's connection to one host; calls are multiplexed by request id.
    Use from the event loop that opened it."""

    def __init__(self, protocol: _ClientProtocol) -> None:
        self._protocol = protocol

    @classmethod
    async def open(cls, address: Address, timeout_s: float = 2.0) -> Channel:
        """Connect to a host's channel; raises `ChannelClosed` when it cannot."""
        ip, port, token = address
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(_ClientProtocol, ip, port), timeout_s
            )
        except (OSError, TimeoutError) as exc:
            raise ChannelClosed(f"cannot connect to {ip}:{port}: {exc}") from exc
        protocol.send(_HELLO, token)
        return cls(protocol)

    @property
    def closed(self) -> bool:
        return self._protocol.closed

    async def call(
        self,
        method: str,
        context: tuple[str, str],
        args: tuple[Any, ...],
        timeout_s: float = CALL_TIMEOUT_S,
    ) -> Any:
        """Run `method(*args)` on the host as the request `context`; returns its result
        or raises what it raised, `ChannelClosed` when the transport failed,
        `CallTimedOut` when no reply came within `timeout_s`."""
        payload = pickle.dumps((method, context, args), protocol=5)
        if len(payload) > MAX_REQUEST:
            raise ChannelClosed(f"a request of {len(payload)} bytes is too large for the channel")
        ok, value = pickle.loads(await self._protocol.request(payload, timeout_s))  # noqa: S301
        if ok:
            return value
        raise value

    def close(self) -> None:
        self._protocol.abort()


class _ClientProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self._frames = _Frames(MAX_REPLY)
        self._transport: asyncio.Transport | None = None
        self._out: _Coalescer | None = None
        self._waiting: dict[int, asyncio.Future[bytes]] = {}
        self._next = _HELLO
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not registered as `asyncio.Transport` subclasses.
        self._transport = cast(asyncio.Transport, transport)
        self._out = _Coalescer(self._transport)

    def send(self, rid: int, payload: bytes) -> None:
        if self.closed or self._out is None or self._transport is None:
            raise ChannelClosed("host channel is closed")
        if self._transport.is_closing():
            raise ChannelClosed("host channel is closed")
        self._out.put(_frame(rid, payload))

    def request(self, payload: bytes, timeout_s: float) -> asyncio.Future[bytes]:
        self._next += 1
        rid = self._next
        self.send(rid, payload)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting[rid] = future
        # A timer, not `wait_for`: no task per call on the hot path.
        timer = loop.call_later(timeout_s, self._expire, rid, timeout_s)
        future.add_done_callback(lambda _: timer.cancel())
        return future

    def _expire(self, rid: int, timeout_s: float) -> None:
        future = self._waiting.pop(rid, None)
        if future is not None and not future.done():
            future.set_exception(CallTimedOut(f"no reply within {timeout_s:g} s"))

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._frames.feed(data)
        except ValueError as exc:
            self.abort(str(exc))
            return
        for rid, payload in frames:
            future = self._waiting.pop(rid, None)
            if future is not None and not future.done():
                future.set_result(payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"host channel lost: {exc or 'closed by the host'}")

    def abort(self, why: str = "closed") -> None:
        if self._transport is not None:
            self._transport.abort()
        self._fail(why)

    def _fail(self, why: str) -> None:
        self.closed = True
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(ChannelClosed(why))


# -- a caller's channels -------------------------------------------------------------


@dataclass(slots=True)
class _Slot:
    """An actor's channel as one event loop holds it: opening or open (`None` when
    opening failed; tried again after `retry_at`)."""

    loop: asyncio.AbstractEventLoop
    opening: asyncio.Task[Channel | None]
    retry_at: float = field(default_factory=lambda: time.monotonic() + RETRY_S)


class Channels:
    """One caller's channels to actors by name, opened on first use.

    A channel belongs to the event loop that opened it: from another loop `get`
    answers `None` (the caller goes through Ray). When an actor's channel cannot be
    opened, `get` answers `None` for `RETRY_S` before trying again; `drop` forgets
    a channel (its actor restarted or moved), closing it.
    """

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._slots: dict[str, _Slot] = {}

    async def get(self, name: str, address: Callable[[], Awaitable[Address]]) -> Channel | None:
        """The open channel to actor `name`, opened now (asking `address` where it
        listens) if there is none; `None` while it cannot be opened."""
        loop = asyncio.get_running_loop()
        slot = self._slots.get(name)
        if slot is not None:
            if slot.loop is not loop:
                return None
            if not slot.opening.done():
                return await asyncio.shield(slot.opening)
            channel = slot.opening.result()
            if channel is not None and not channel.closed:
                return channel
            if channel is None and time.monotonic() < slot.retry_at:
                return None
        slot = _Slot(loop, loop.create_task(self._open(name, address)))
        self._slots[name] = slot
        return await asyncio.shield(slot.opening)

    async def _open(self, name: str, address: Callable[[], Awaitable[Address]]) -> Channel | None:
        try:
            return await Channel.open(await address())
        except Exception as exc:  # the actor is gone or not listening: Ray it is
            log.info("no channel to %s %s (%s); calls go through Ray", self._kind, name, exc)
            return None

    def drop(self, name: str) -> None:
        slot = self._slots.pop(name, None)
        if slot is not None:
            slot.opening.add_done_callback(_close_opened)


def _close_opened(opening: asyncio.Task[Channel | None]) -> None:
    """Close the channel an opening produced (now, or once it finishes)."""
    if not opening.cancelled() and opening.exception() is None:
        channel = opening.result()
        if channel is not None:
            channel.close()
