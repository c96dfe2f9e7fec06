"""One websocket session: authentication, subscriptions, ordered delivery.

Guarantee: for every subscribed project the session sends each committed event
exactly once and in `version` order with no gap. Everything a session sends goes
through one bounded queue drained by one sender task, which is therefore the only
place that decides order (a live event that could only be the next thing sent,
with the sender idle and the queue empty, is written at once instead: see
`Session._deliver_now`):

- `subscribe` registers the Redis listener first, then queues a *sync* item; the
  sender replays the event log after `since` (or starts at the current version),
  then goes live. Live events that arrive meanwhile are buffered and deduplicated
  by version.
- a live event whose version skips ahead (a message lost while Redis was down)
  makes the sender fill the hole from the event log before sending it;
- after the pub/sub connection came back, every subscription catches up from
  the event log.

A client that cannot keep up fills the queue; the session is then closed with
`CloseCode.TOO_SLOW` and the client resumes with `since`. Neither the grains nor
other sessions ever wait for a slow client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

import orjson
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import DomainError
from realtime import presence
from realtime.fanout import Fanout
from realtime.protocol import (
    CloseCode,
    ProtocolError,
    error,
    event_message,
    snapshot_required,
    validate,
)
from realtime.protocol import subscribed as subscribed_message
from storage import telemetry
from storage.event_log import events_after, project_version

log = logging.getLogger(__name__)

_REPLICA = f"{socket.gethostname()}:{os.getpid()}"


class Transport(Protocol):
    async def send_text(self, data: str) -> None: ...
    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class FrameLane:
    """A way to send a live event's frame as prepared bytes, when the server offers
    one: `frame` builds the frame for an `event` message's UTF-8 text (once per
    event, shared by all sessions), `send` writes it to this session's connection
    and says whether it did (False: send the text through the transport), and
    `send_now` does the same without waiting."""

    frame: Callable[[bytes], bytes]
    send: Callable[[bytes], Awaitable[bool]]
    #: `send` without waiting: False also when the frame cannot be written at once.
    send_now: Callable[[bytes], bool]


Authorize = Callable[[UUID], Awaitable[None]]  # raises DomainError when not allowed


class SessionState(StrEnum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Limits:
    queue: int = 1000  # messages waiting for a client before it counts as too slow
    replay: int = 1000  # events a resume may replay before a snapshot is required
    reauthorize_s: float = 30.0  # how long a lost permission may go unnoticed


class _LiveEvent(dict[str, Any]):
    """A published event as every session of this replica receives it: the fan-out
    hands one Redis message to each session that watches its project, so it is
    decoded once, and the `event` message sent for it is encoded once, on its first
    send (`_encoded`). Never mutated after decoding."""

    __slots__ = ("committed", "frame", "message")

    message: str
    frame: bytes  # the `message` as a websocket frame (`FrameLane.frame`)
    committed: float  # `created_at` as a POSIX time, for the fan-out lag metric


#: The last published message decoded (the fan-out passes the same bytes object to
#: every listener of a channel in turn, so one entry catches them all).
_last_live: tuple[bytes, _LiveEvent] | None = None


def _decode_live(data: bytes) -> _LiveEvent:
    global _last_live
    if _last_live is not None and _last_live[0] is data:
        return _last_live[1]
    event = _LiveEvent(orjson.loads(data))
    _last_live = (data, event)
    return event


def _lag_s(event: dict[str, Any]) -> float:
    """Seconds from the event's commit until now (the fan-out lag metric)."""
    if not isinstance(event, _LiveEvent):
        return telemetry.seconds_since(event["created_at"])
    try:
        committed = event.committed
    except AttributeError:
        committed = event.committed = time.time() - telemetry.seconds_since(event["created_at"])
    return max(0.0, time.time() - committed)


def _encoded(event: dict[str, Any]) -> str:
    """The `event` message's text, shared by all sessions for a live event."""
    if not isinstance(event, _LiveEvent):
        return orjson.dumps(event_message(event)).decode()
    try:
        return event.message
    except AttributeError:
        event.message = orjson.dumps(event_message(event)).decode()
        return event.message


def _framed(event: dict[str, Any], lane: FrameLane) -> bytes:
    """The `event` message's frame, shared by all sessions for a live event."""
    if not isinstance(event, _LiveEvent):
        return lane.frame(_encoded(event).encode())
    try:
        return event.frame
    except AttributeError:
        event.frame = lane.frame(_encoded(event).encode())
        return event.frame


@dataclass(slots=True)
class _Subscription:
    project_id: str
    last: int | None = None  # None until the sync item ran
    pending: list[dict[str, Any]] = field(default_factory=list)


class Session:
    """Serves one authenticated user over one websocket."""

    def __init__(
        self,
        transport: Transport,
        *,
        user_id: str,
        fanout: Fanout,
        redis: aioredis.Redis | None,
        engine: AsyncEngine,
        authorize: Authorize,
        limits: Limits = Limits(),
        frames: FrameLane | None = None,
    ) -> None:
        self.user_id = user_id
        self.state = SessionState.OPEN
        self._transport = transport
        self._frames = frames
        self._fanout = fanout
        self._redis = redis
        self._engine = engine
        self._authorize = authorize
        self._limits = limits
        self._queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue(maxsize=limits.queue)
        #: The sender is acting on an item it took from the queue.
        self._busy = False
        self._subs: dict[str, _Subscription] = {}
        self._listeners: dict[str, Callable[[str, bytes | None], None]] = {}
        self.closed = asyncio.Event()
        self._sender = asyncio.create_task(self._send_loop(), name=f"ws-sender-{user_id}")
        self._guard = asyncio.create_task(self._reauthorize(), name=f"ws-guard-{user_id}")
        telemetry.WEBSOCKET_SESSIONS.inc()

    # -- incoming ------------------------------------------------------------------

    async def start(self) -> None:
        """Greet the client (`ready`, naming the serving replica) and listen on the
        user's own channel (notifications)."""
        self._offer(("send", {"type": "ready", "user_id": self.user_id, "replica": _REPLICA}))
        await self._listen(f"user:{self.user_id}", self._on_user_message)

    async def handle(self, raw: str) -> None:
        """Act on one client message; protocol errors are answered, not fatal."""
        try:
            message = validate(orjson.loads(raw))
        except (orjson.JSONDecodeError, ProtocolError) as exc:
            self._offer(("send", error(str(exc))))
            return
        kind = message["type"]
        if kind == "ping":
            self._offer(("send", {"type": "pong"}))
        elif kind == "subscribe":
            await self._subscribe(message["project_id"], message.get("since"))
        elif kind == "unsubscribe":
            await self._unsubscribe(message["project_id"])
        elif kind == "presence":
            await self._presence(message["project_id"], message.get("task_id"))
        elif kind == "auth":
            self._offer(("send", error("already authenticated")))

    async def _subscribe(self, project_id: str, since: int | None) -> None:
        try:
            await self._authorize(UUID(project_id))
        except DomainError as exc:
            self._offer(("send", error(exc.detail, project_id=project_id, code="not_found")))
            return
        if project_id in self._subs:
            await self._unsubscribe(project_id, announce=False)
        self._subs[project_id] = _Subscription(project_id)
        await self._listen(f"project:{project_id}", self._on_project_message)
        await self._listen(presence.channel(project_id), self._on_presence_message)
        self._offer(("sync", project_id, since))

    async def _unsubscribe(self, project_id: str, *, announce: bool = True) -> None:
        self._subs.pop(project_id, None)
        await self._unlisten(f"project:{project_id}")
        await self._unlisten(presence.channel(project_id))
        if self._redis is not None and announce:
            with contextlib.suppress(Exception):
                await presence.leave(self._redis, project_id, self.user_id)

    async def _presence(self, project_id: str, task_id: str | None) -> None:
        if project_id not in self._subs:
            self._offer(("send", error("subscribe to the project first", project_id=project_id)))
            return
        if self._redis is None:
            return
        viewers = await presence.heartbeat(self._redis, project_id, self.user_id, task_id)
        self._offer(("send", {"type": "presence", "project_id": project_id, "viewers": viewers}))

    # -- from Redis (must never block) -------------------------------------------------

    async def _listen(self, channel: str, listener: Callable[[str, bytes | None], None]) -> None:
        if channel not in self._listeners:
            self._listeners[channel] = listener
            await self._fanout.subscribe(channel, listener)

    async def _unlisten(self, channel: str) -> None:
        listener = self._listeners.pop(channel, None)
        if listener is not None:
            await self._fanout.unsubscribe(channel, listener)

    def _on_project_message(self, channel: str, data: bytes | None) -> None:
        project_id = channel.removeprefix("project:")
        if data is None:
            self._offer(("catch_up", project_id))
            return
        event = _decode_live(data)
        if not self._deliver_now(project_id, event):
            self._offer(("live", project_id, event))

    def _deliver_now(self, project_id: str, event: dict[str, Any]) -> bool:
        """Send a live event from the fan-out's own call, when nothing can be ahead
        of it: the sender is idle with an empty queue, the subscription is live and
        the event is the very next version, and the connection takes the prepared
        frame at once. Anything else (a gap, a sync under way, a full transport
        buffer, a deletion that ends the subscription) goes through the queue as
        before. Under a steady load this is most events, and each then costs no
        queue item and no wake-up of the sender task (measured: the sender's round
        trip was about half of what a delivered frame cost the replica)."""
        lane = self._frames
        if lane is None or self._busy or not self._queue.empty():
            return False
        sub = self._subs.get(project_id)
        if (
            self.state is not SessionState.OPEN
            or sub is None
            or sub.last is None
            or event["version"] != sub.last + 1
            or event["event"] == "project.deleted"
            or not lane.send_now(_framed(event, lane))
        ):
            return False
        sub.last = event["version"]
        telemetry.FANOUT_LAG_SECONDS.observe(_lag_s(event))
        return True

    def _on_presence_message(self, _channel: str, data: bytes | None) -> None:
        if data is not None:
            self._offer(("send", orjson.loads(data)))

    def _on_user_message(self, _channel: str, data: bytes | None) -> None:
        if data is not None:
            self._offer(("send", orjson.loads(data)))

    def _offer(self, item: tuple[Any, ...]) -> None:
        if self.state is not SessionState.OPEN:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("websocket session of user %s fell behind; closing it", self.user_id)
            self.state = SessionState.CLOSING
            asyncio.get_running_loop().create_task(
                self.close(CloseCode.TOO_SLOW, "too slow: resubscribe with since")
            )

    # -- the sender: the one place that orders what the client sees --------------

    async def _send_loop(self) -> None:
        while True:
            item = await self._queue.get()
            self._busy = True
            kind = item[0]
            if kind == "send":
                await self._send(item[1])
            elif kind == "sync":
                await self._sync(item[1], item[2])
            elif kind == "live":
                await self._live(item[1], item[2])
            elif kind == "catch_up":
                await self._catch_up(item[1])
            elif kind == "revoke" and item[1] in self._subs:
                await self._revoke(item[1], item[2])
            self._busy = False

    async def _send(self, message: dict[str, Any]) -> None:
        await self._transport.send_text(orjson.dumps(message).decode())

    async def _sync(self, project_id: str, since: int | None) -> None:
        sub = self._subs.get(project_id)
        if sub is None:
            return
        current = await project_version(self._engine, UUID(project_id))
        if current is None:
            await self._revoke(project_id, "project not found")
            return
        if since is None:
            sub.last = current
        elif since > current or current - since > self._limits.replay:
            reason = "since is ahead of the project" if since > current else "history too old"
            await self._send(snapshot_required(project_id, reason) | {"version": current})
            sub.last = current
        else:
            sub.last = since
            await self._replay(sub, until=current)
        await self._send(subscribed_message(project_id, sub.last))
        pending, sub.pending = sorted(sub.pending, key=lambda e: e["version"]), []
        for event in pending:
            await self._live(project_id, event)

    async def _replay(self, sub: _Subscription, *, until: int | None) -> None:
        assert sub.last is not None
        while until is None or sub.last < until:
            batch = await events_after(
                self._engine, UUID(sub.project_id), sub.last, limit=500, until=until
            )
            if not batch:
                return
            for event in batch:
                if not await self._deliver(sub, event):
                    return

    async def _live(self, project_id: str, event: dict[str, Any]) -> None:
        sub = self._subs.get(project_id)
        if sub is None:
            return
        if sub.last is None:
            sub.pending.append(event)
            return
        version = event["version"]
        if version <= sub.last:
            return  # already sent (replay and live overlap)
        if version > sub.last + 1:
            if version - sub.last - 1 > self._limits.replay:
                await self._send(
                    snapshot_required(project_id, "history too old") | {"version": version}
                )
                sub.last = version
                return
            await self._replay(sub, until=version - 1)
        if project_id in self._subs:
            await self._deliver(sub, event)
            telemetry.FANOUT_LAG_SECONDS.observe(_lag_s(event))

    async def _catch_up(self, project_id: str) -> None:
        sub = self._subs.get(project_id)
        if sub is not None and sub.last is not None:
            await self._replay(sub, until=None)

    async def _deliver(self, sub: _Subscription, event: dict[str, Any]) -> bool:
        """Send one event; False when it ended the subscription."""
        lane = self._frames
        if lane is None or not await lane.send(_framed(event, lane)):
            await self._transport.send_text(_encoded(event))
        sub.last = event["version"]
        if event["event"] == "project.deleted":
            await self._revoke(sub.project_id, "the project was deleted")
            return False
        return True

    async def _reauthorize(self) -> None:
        """Check every subscription's permission again now and then, so a user who
        lost access (membership, role, deletion) stops receiving within a bound."""
        while True:
            await asyncio.sleep(self._limits.reauthorize_s)
            for project_id in list(self._subs):
                try:
                    await self._authorize(UUID(project_id))
                except DomainError as exc:
                    self._offer(("revoke", project_id, exc.detail))

    async def _revoke(self, project_id: str, detail: str) -> None:
        await self._send(error(detail, project_id=project_id, code="access_revoked"))
        await self._unsubscribe(project_id, announce=True)

    # -- closing ---------------------------------------------------------------------

    async def close(self, code: int = CloseCode.NORMAL, reason: str | None = None) -> None:
        """Idempotent. Leaves presence, drops listeners, closes the socket."""
        if self.state is SessionState.CLOSED:
            return
        self.state = SessionState.CLOSED
        telemetry.WEBSOCKET_SESSIONS.dec()
        self.closed.set()
        self._guard.cancel()
        self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._sender
        for project_id in list(self._subs):
            with contextlib.suppress(Exception):
                await self._unsubscribe(project_id)
        for channel in list(self._listeners):
            await self._unlisten(channel)
        # A slow client may not even read the close frame: don't wait for it long.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._transport.close(code=code, reason=reason), 2.0)
