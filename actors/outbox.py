"""The outbox relay: delivers committed events to consumers, at least once, in order.

`OutboxRelay` finds projects whose version is ahead of a consumer's offset, reads
their new events in version order and hands them to the consumer's `handle`
*inside the transaction that advances the offset*: the consumer's writes and the
new offset commit together, so a crash replays the events and nothing is lost.
Replays can still happen (an offset reset, a crash after a consumer's side
effect outside the database), so handlers must be idempotent by
`(project_id, version)`.

The relay polls (every `poll_s`, 200 ms by default) and is woken early by a
tiny announcement hosts publish on `WAKE_CHANNEL` after each commit (or by
`kick`). It deliberately does not subscribe to the grains' `project:*`
publishes: those carry whole events (task descriptions up to 100 KB), and
shipping every one to the relay only to learn "something changed" costs more
than a poll. Each consumer runs its own loop, so one slow consumer never holds
up another. `OutboxActor` is a thin Ray shell around the relay and the
consumers' background loops; the relay itself is a plain class, testable
without Ray.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import ray
import redis.asyncio as aioredis
from ray.actor import ActorHandle
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import outbox, telemetry
from storage.db import create_engine
from storage.outbox import StoredEvent

log = logging.getLogger(__name__)

NAMESPACE = "taskhive"
ACTOR_NAME = "taskhive-outbox"
#: Hosts publish a project id here after each commit; the relay wakes up on it.
WAKE_CHANNEL = "outbox:wake"

AfterCommit = Callable[[], Awaitable[None]]


class Consumer(Protocol):
    """Something that reacts to committed events. One offset per project per `name`."""

    name: str

    async def handle(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> AfterCommit | None:
        """Handle events of one project (version order) in the relay's transaction.

        Must not commit. May return a callable the relay runs after the commit,
        for effects that must not happen if the transaction rolls back (a
        publish); its failure is logged, never retried.
        """
        ...

    async def background(self) -> None:
        """Work of the consumer's own that runs while the relay lives (may return at once)."""
        ...

    async def close(self) -> None: ...


ConsumerFactory = Callable[[AsyncEngine, "aioredis.Redis | None"], Consumer]


class Chore(Protocol):
    """Periodic work beside the relay; `run` loops until cancelled."""

    async def run(self) -> None: ...


ChoreFactory = Callable[[AsyncEngine], Chore]


class OutboxRelay:
    """Moves each consumer's offsets forward. See the module docstring."""

    def __init__(
        self,
        engine: AsyncEngine,
        consumers: Sequence[Consumer],
        *,
        batch_size: int = 200,
        projects_per_pass: int = 100,
    ) -> None:
        self._engine = engine
        self._consumers = list(consumers)
        self._batch_size = batch_size
        self._projects_per_pass = projects_per_pass
        # (consumer, project) whose handler failed → (failures, monotonic time to retry)
        self._failing: dict[tuple[str, Any], tuple[int, float]] = {}
        self.wake = asyncio.Event()

    async def run_once(self) -> int:
        """One pass over every lagging project of every consumer; events delivered."""
        delivered = 0
        for consumer in self._consumers:
            delivered += await self.run_consumer(consumer)
        return delivered

    async def run_consumer(self, consumer: Consumer) -> int:
        """One pass over the projects `consumer` lags behind on; events delivered."""
        async with self._engine.connect() as conn:
            lagging = await outbox.lagging_projects(
                conn, consumer.name, limit=self._projects_per_pass
            )
        delivered = 0
        for project_id in lagging:
            delivered += await self.deliver(consumer, project_id)
        return delivered

    async def deliver(self, consumer: Consumer, project_id: Any) -> int:
        """Hand the project's next events (up to a batch) to `consumer`; how many."""
        key = (consumer.name, project_id)
        failing = self._failing.get(key)
        if failing is not None and time.monotonic() < failing[1]:
            return 0
        try:
            async with self._engine.begin() as conn:
                offset = await outbox.claim_offset(conn, consumer.name, project_id)
                if offset is None:
                    return 0
                events = await outbox.read_events(
                    conn, project_id, after=offset, limit=self._batch_size
                )
                if not events:
                    return 0
                after_commit = await consumer.handle(conn, events)
                await outbox.advance(conn, consumer.name, project_id, events[-1].version)
        except Exception:
            # A failing event blocks only its project for this consumer, retried
            # with backoff; the offset did not move, so nothing is skipped.
            count = failing[0] + 1 if failing else 1
            self._failing[key] = (count, time.monotonic() + min(0.5 * 2**count, 60.0))
            log.exception("consumer %s failed on project %s (%d times)", *key, count)
            return 0
        self._failing.pop(key, None)
        if after_commit is not None:
            try:
                await after_commit()
            except Exception:
                log.exception("consumer %s: after-commit step failed", consumer.name)
        return len(events)

    async def run(self, poll_s: float) -> None:
        """Deliver forever, each consumer in its own loop so a slow one (reports
        folding a big batch) never delays another (search freshness). A wake-up
        (`wake`, set when a commit is announced) starts every loop's next pass."""
        wakes = {c.name: asyncio.Event() for c in self._consumers}
        loops = [
            asyncio.create_task(self._run_consumer(c, wakes[c.name], poll_s))
            for c in self._consumers
        ]
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                for event in wakes.values():
                    event.set()
        finally:
            for loop in loops:
                loop.cancel()

    async def _run_consumer(self, consumer: Consumer, wake: asyncio.Event, poll_s: float) -> None:
        """A pass at once after one that found work, else on a wake-up or after `poll_s`."""
        while True:
            wake.clear()
            try:
                delivered = await self.run_consumer(consumer)
            except Exception:
                log.exception("outbox relay pass of %s failed; retrying", consumer.name)
                delivered = 0
            if delivered:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), poll_s)


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    database_url: str
    redis_url: str | None
    consumers: tuple[ConsumerFactory, ...]
    poll_s: float = 0.2
    pool_size: int = 5
    #: Periodic work that needs no events (`realtime.housekeeping`), run beside the relay.
    chores: tuple[ChoreFactory, ...] = ()


class OutboxActor:
    """The Ray actor running the relay and the consumers' background work."""

    async def __init__(self, config: OutboxConfig) -> None:  # type: ignore[misc]
        # An async constructor: Ray runs it on the actor's event loop, so the loops
        # start here and start again whenever Ray restarts the actor.
        self._engine = create_engine(config.database_url, pool_size=config.pool_size)
        self._redis = aioredis.from_url(config.redis_url) if config.redis_url else None
        self._consumers = [factory(self._engine, self._redis) for factory in config.consumers]
        self._relay = OutboxRelay(self._engine, self._consumers)
        self._tasks = [asyncio.create_task(self._relay.run(config.poll_s))]
        if self._redis is not None:
            self._tasks.append(asyncio.create_task(self._listen_for_commits(self._redis)))
        self._tasks += [asyncio.create_task(c.background()) for c in self._consumers]
        self._tasks += [asyncio.create_task(f(self._engine).run()) for f in config.chores]

    async def ping(self) -> bool:
        return True

    async def _listen_for_commits(self, redis: aioredis.Redis) -> None:
        """Wake the relay when a host announces a commit (`WAKE_CHANNEL`), so
        consumers see new events at once rather than at the next poll. Without
        Redis, or while it is down, the poll still finds everything."""
        while True:
            try:
                async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(WAKE_CHANNEL)
                    async for _message in pubsub.listen():
                        self._relay.wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("commit announcements unavailable (%s); polling only", exc)
            await asyncio.sleep(1.0)

    async def metrics(self) -> list[telemetry.Family]:
        """The relay's metrics for `/metrics`: consumer lag and email queue read now."""
        async with self._engine.connect() as conn:
            await telemetry.read_outbox_gauges(conn, [c.name for c in self._consumers])
        return telemetry.snapshot()

    async def kick(self) -> None:
        """Run a pass now (tests, or after an offset reset)."""
        self._relay.wake.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for consumer in self._consumers:
            await consumer.close()
        await self._engine.dispose()
        if self._redis is not None:
            await self._redis.aclose()


def ensure_outbox(config: OutboxConfig) -> ActorHandle[OutboxActor]:
    """Get or create the named relay actor; waits until its constructor ran."""
    handle: ActorHandle[OutboxActor] = (
        ray.remote(OutboxActor)
        .options(  # type: ignore[assignment]
            name=ACTOR_NAME,
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,
            max_task_retries=0,
            max_concurrency=100,
            num_cpus=0,
        )
        .remote(config)
    )
    ray.get(handle.ping.remote())
    return handle
