"""Per-replica fan-out: one Redis subscription per channel, shared by all sessions.

A grain publishes each committed event once to `project:{id}`. Each API replica
holds one pub/sub connection, subscribes to a channel while at least one of its
sessions listens to it, and hands every message to those sessions' listeners.
When the connection drops (Redis restarted, network blip) it reconnects with
backoff, resubscribes, and calls every listener with `None`: "you may have
missed messages; catch up from the event log".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Listener = Callable[[str, bytes | None], None]

_BACKOFF_MAX_S = 2.0


class Fanout:
    """Multiplexes Redis channels to in-process listeners. Listeners must not block."""

    def __init__(self, redis_url: str) -> None:
        self._redis = aioredis.from_url(redis_url)
        self._pubsub: aioredis.client.PubSub | None = None
        self._listeners: dict[str, set[Listener]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.reconnects = 0
        self._resync = False

    @property
    def channels(self) -> int:
        return len(self._listeners)

    async def subscribe(self, channel: str, listener: Listener) -> None:
        """Start delivering `channel` to `listener`; returns once Redis confirmed."""
        async with self._lock:
            listeners = self._listeners.setdefault(channel, set())
            listeners.add(listener)
            if len(listeners) == 1:
                try:
                    await self._connection().subscribe(channel)
                except (RedisError, OSError) as exc:
                    # The reader reconnects and resubscribes every channel.
                    log.warning("subscribe to %s failed (%s); will retry", channel, exc)
            if self._runner is None or self._runner.done():
                self._runner = asyncio.create_task(self._read(), name="fanout-reader")

    async def unsubscribe(self, channel: str, listener: Listener) -> None:
        async with self._lock:
            listeners = self._listeners.get(channel)
            if not listeners:
                return
            listeners.discard(listener)
            if not listeners:
                del self._listeners[channel]
                with contextlib.suppress(RedisError, OSError):
                    await self._connection().unsubscribe(channel)

    def _connection(self) -> aioredis.client.PubSub:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        return self._pubsub

    async def _read(self) -> None:
        backoff = 0.05
        while True:
            pubsub = self._connection()
            try:
                if not pubsub.subscribed:
                    if not self._listeners:
                        await asyncio.sleep(0.1)
                        continue
                    await pubsub.subscribe(*self._listeners)
                    if self._resync:
                        # Only now, with the subscriptions back, can a catch-up
                        # from the event log be sure not to miss anything.
                        self._resync = False
                        self._notify_all(None)
                message = await pubsub.get_message(timeout=1.0)
                backoff = 0.05
            except (RedisError, OSError) as exc:
                await self._reset(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"].decode()
            for listener in tuple(self._listeners.get(channel, ())):
                listener(channel, message["data"])

    async def _reset(self, exc: BaseException) -> None:
        log.warning("pub/sub connection lost (%s); reconnecting", exc)
        self.reconnects += 1
        old, self._pubsub = self._pubsub, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.aclose()  # type: ignore[no-untyped-call]
        self._resync = True

    def _notify_all(self, data: bytes | None) -> None:
        for channel, listeners in list(self._listeners.items()):
            for listener in tuple(listeners):
                listener(channel, data)

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._redis.aclose()
