"""Committed events of a host's grains, published to Redis together.

Each grain publishes its batch's events on `project:{id}` once they committed,
and announces the commit to the outbox relay on `WAKE_CHANNEL`. Under load a
host commits the batches of many grains in one transaction (`actors.host_commit`)
and they all publish in the same turn of the event loop: `EventPublisher` sends
what arrives in one turn in one pipeline (one round trip, one system call),
with one announcement naming every project in it (space-separated ids).

Order: a grain publishes its next batch only after the previous one returned,
so a project's events never overtake each other, whichever pipeline they ride.

Loss here is repaired by replay: when Redis fails, the last event of each
project in the failed pipeline is remembered and sent again once Redis answers,
so subscribers see the version jump and replay the gap even if no later write
comes.
"""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

import orjson
import redis.asyncio as aioredis

from domain.events import Event
from storage.breaker import DependencyUnavailable, breaker

log = logging.getLogger(__name__)

__all__ = ["EventPublisher"]


class EventPublisher:
    def __init__(self, redis: aioredis.Redis, wake_channel: str) -> None:
        self._redis = redis
        self._wake_channel = wake_channel
        where = redis.connection_pool.connection_kwargs
        self._breaker = breaker("redis", f"{where.get('host', '')}:{where.get('port', '')}")
        self._waiting: list[tuple[UUID, list[Event]]] = []
        self._next: asyncio.Task[None] | None = None
        #: The last event of each project whose publish failed, to send again.
        self.unpublished: dict[UUID, Event] = {}
        #: Pipelines sent (for tests and metrics).
        self.pipelines = 0

    async def publish(self, project_id: UUID, events: list[Event]) -> None:
        """Publish once the events of this turn of the loop are gathered; never
        raises for Redis (the failure is logged and repaired later)."""
        self._waiting.append((project_id, events))
        if self._next is None:
            self._next = asyncio.get_running_loop().create_task(self._send_next())
        # Shielded: a grain that stops waiting must not cancel the others' publish.
        await asyncio.shield(self._next)

    async def _send_next(self) -> None:
        await asyncio.sleep(0)  # let the other grains of this turn add theirs
        waiting, self._waiting, self._next = self._waiting, [], None
        self.pipelines += 1
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for project_id, events in waiting:
                    channel = f"project:{project_id}"
                    for event in events:
                        pipe.publish(channel, orjson.dumps(event.as_json()))
                # The relay: new events in these projects.
                pipe.publish(self._wake_channel, " ".join(str(p) for p, _ in waiting))
                await self._breaker.call(pipe.execute())
        except (aioredis.RedisError, OSError, DependencyUnavailable) as exc:
            for project_id, events in waiting:
                self.unpublished[project_id] = events[-1]
            log.warning(
                "publish of %d projects' events failed (%s); subscribers resume by version",
                len(waiting),
                exc,
            )
        else:
            for project_id, _ in waiting:
                self.unpublished.pop(project_id, None)

    async def republish(self) -> None:
        """Send each unpublished project's last event again, once Redis answers."""
        for project_id, event in list(self.unpublished.items()):
            try:
                message = orjson.dumps(event.as_json())
                await self._breaker.call(self._redis.publish(f"project:{project_id}", message))
            except (aioredis.RedisError, OSError, DependencyUnavailable):
                return  # still down: try again later
            if self.unpublished.get(project_id) is event:
                del self.unpublished[project_id]
