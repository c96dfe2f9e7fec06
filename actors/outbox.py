"""The outbox relay: delivers committed events to consumers, at least once, in order.

`OutboxRelay` finds projects whose version is ahead of a consumer's offset, reads
their new events in version order and hands them to the consumer's `handle`
*inside the transaction that advances the offset*: the consumer's writes and the
new offset commit together, so a crash replays the events and nothing is lost.
Replays can still happen (an offset reset, a crash after a consumer's side
effect outside the database), so handlers must be idempotent by
`(project_id, version)`.

Hosts announce commits on `WAKE_CHANNEL` (the ids of the projects that committed
in one turn of the host's event loop, space-separated),
and each consumer's loop then passes over just the announced projects: one
transaction claims their offsets and reads their next events in one statement,
hands each project's batch to the consumer and advances the offsets together (a
failing handler sends the projects through again one transaction each, so only
its own waits). The claim skips the events another consumer of this relay
claimed lately: they are held in memory (`storage.outbox.RecentEvents`), so each
event is read and decoded once rather than once per consumer, and handlers must
not change the events they are given, which other consumers are given too. After a pass that delivered, a loop lingers for its consumer's
`linger_s` (`LINGER_S` when it declares none) so the next transaction carries
more commits: search lingers briefly (freshness), consumers whose readers expect
seconds (notifications, webhooks, reports) longer, and under a steady write load
their passes then carry many commits instead of one each (see `pause_after`,
ADR 011). An idle consumer still takes the first announced commit at once, and
a pass that left work behind is followed by the next one without a pause. A
full scan for lagging projects runs every `FULL_SCAN_S` while announcements
arrive (catching a lost one) and every `poll_s` (200 ms by default) without
Redis; a scan that finds more projects behind than a pass takes (a backlog) is
followed at once by another. The relay deliberately does not
subscribe to the grains' `project:*` publishes: those carry whole events (task
descriptions up to 100 KB), and shipping every one to the relay only to learn
"something changed" costs more than an id. Each consumer runs its own loop, so
one slow consumer never holds up another. `OutboxActor` is a thin Ray shell
around the relay and the consumers' background loops; the relay itself is a
plain class, testable without Ray.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

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
#: With announcements arriving, a full scan for lagging projects runs this often
#: (it catches a lost announcement); without them, every `poll_s`.
FULL_SCAN_S = 2.0
#: After a pass that delivered, wait this long so the next one carries more commits
#: (a consumer's own `linger_s`, when it has one, takes precedence).
LINGER_S = 0.02
#: Projects delivered in one transaction (each up to a batch of events): a pass's
#: worth (`projects_per_pass`). Under a write load spread over many projects, a
#: search pass carried 20 projects a transaction before and took five transactions
#: for what one does now (`bench.relay_cpu`: 0.52 → 0.46 ms of CPU per write).
PROJECTS_PER_TRANSACTION = 100

AfterCommit = Callable[[], Awaitable[None]]


class Consumer(Protocol):
    """Something that reacts to committed events. One offset per project per `name`.

    A consumer may also declare `linger_s: float`, how long after a pass that
    delivered its loop waits for more commits before the next pass: the delay
    it tolerates between a commit and its handler, traded for fewer, fuller
    transactions (see `pause_after`). And it may offer `interested` (see
    `Selective`): the relay then asks it once per transaction which projects it
    would act on, and calls `handle` for those only. A consumer that offers
    `handle_many` (see `Batched`) gets the transaction's projects in one call.
    """

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


@runtime_checkable
class Selective(Protocol):
    """A consumer that acts on few projects (those with webhooks, automation rules)."""

    async def interested(self, conn: AsyncConnection, projects: Mapping[UUID, UUID]) -> set[UUID]:
        """Of `projects` (project id → organisation id, from their events), those
        whose events `handle` might act on; for the others it must be a no-op
        (no writes, no after-commit step), so the relay skips the call. Runs in
        the relay's transaction, one statement for all the projects."""
        ...


@runtime_checkable
class Batched(Protocol):
    """A consumer that handles a transaction's projects together: one statement
    or one call for all of them instead of one per project (search, reports)."""

    async def handle_many(
        self, conn: AsyncConnection, pending: Mapping[UUID, Sequence[StoredEvent]]
    ) -> AfterCommit | None:
        """`handle` for each project of `pending` (its events in version order), in
        the relay's transaction. Same contract: no commit, idempotent by `(project_id,
        version)`; a failure rolls back the whole transaction and the relay sends
        the projects again one transaction each."""
        ...


ConsumerFactory = Callable[[AsyncEngine, "aioredis.Redis | None"], Consumer]


def linger_of(consumer: Consumer, default: float) -> float:
    """The consumer's declared `linger_s`, or `default` when it declares none."""
    declared = getattr(consumer, "linger_s", None)
    return default if declared is None else float(declared)


def pause_after(linger_s: float, *, delivered: bool, backlog: bool) -> float | None:
    """How long a consumer's loop waits before its next pass; None: until woken
    (an announcement, or the full scan's timer).

    After a pass that delivered, the loop lingers so commits arriving meanwhile
    share the next transaction; the cost is at most `linger_s` of extra delay for
    them. If that pass also left work behind (projects it could not take, a batch
    it filled) it goes on at once: lingering then would only cap throughput. A
    pass that delivered nothing waits to be woken, so the first commit after a
    quiet spell goes at once, and a backlog that cannot move (failing or locked
    projects) is not rescanned in a tight loop.
    """
    if not delivered:
        return None
    return 0.0 if backlog else linger_s


class Chore(Protocol):
    """Periodic work beside the relay; `run` loops until cancelled."""

    async def run(self) -> None: ...


ChoreFactory = Callable[[AsyncEngine], Chore]


async def _takers(
    consumer: Consumer, conn: AsyncConnection, pending: Mapping[UUID, Sequence[StoredEvent]]
) -> Collection[UUID]:
    """The projects of `pending` whose events go to `consumer.handle`: all of
    them, unless the consumer is `Selective`."""
    if not pending or not isinstance(consumer, Selective):
        return pending.keys()
    return await consumer.interested(conn, {p: events[0].org_id for p, events in pending.items()})


class OutboxRelay:
    """Moves each consumer's offsets forward. See the module docstring."""

    def __init__(
        self,
        engine: AsyncEngine,
        consumers: Sequence[Consumer],
        *,
        batch_size: int = 200,
        projects_per_pass: int = 100,
        full_scan_s: float = FULL_SCAN_S,
        linger_s: float = LINGER_S,
    ) -> None:
        self._engine = engine
        self._consumers = list(consumers)
        self._batch_size = batch_size
        self._projects_per_pass = projects_per_pass
        self._full_scan_s = full_scan_s
        self._linger_s = linger_s
        #: Events claimed lately, so the next consumer to claim them need not read them.
        self.recent = outbox.RecentEvents()
        # (consumer, project) whose handler failed → (failures, monotonic time to retry)
        self._failing: dict[tuple[str, Any], tuple[int, float]] = {}
        # Projects announced since each consumer's last pass.
        self._dirty: dict[str, set[UUID]] = {c.name: set() for c in consumers}
        self._wakes: dict[str, asyncio.Event] = {c.name: asyncio.Event() for c in consumers}
        #: Set: every consumer makes a full pass (`kick`, tests).
        self.wake = asyncio.Event()
        #: Whether commit announcements are arriving (the listener is subscribed).
        self.announcements = False
        #: Full passes each consumer's loop has finished (`run`): what a caller
        #: waits on to know every project lagging at some moment has been looked at.
        self.full_passes: dict[str, int] = {c.name: 0 for c in consumers}

    def announce(self, project_id: UUID) -> None:
        """A commit of `project_id` was announced: every consumer looks at it now."""
        for name, dirty in self._dirty.items():
            dirty.add(project_id)
            self._wakes[name].set()

    async def run_once(self) -> int:
        """One full pass over every lagging project of every consumer; events delivered."""
        delivered = 0
        for consumer in self._consumers:
            delivered += await self.run_consumer(consumer)
        return delivered

    async def run_consumer(self, consumer: Consumer) -> int:
        """One full pass over the projects `consumer` lags behind on; events delivered."""
        async with self._engine.connect() as conn:
            lagging = await outbox.lagging_projects(
                conn, consumer.name, limit=self._projects_per_pass
            )
        delivered = 0
        for at in range(0, len(lagging), PROJECTS_PER_TRANSACTION):
            chunk = lagging[at : at + PROJECTS_PER_TRANSACTION]
            delivered += sum((await self.deliver_many(consumer, chunk)).values())
        return delivered

    async def deliver(self, consumer: Consumer, project_id: UUID) -> int:
        """Hand the project's next events (up to a batch) to `consumer`; how many."""
        return (await self.deliver_many(consumer, [project_id])).get(project_id, 0)

    async def deliver_many(
        self, consumer: Consumer, project_ids: Sequence[UUID]
    ) -> dict[UUID, int]:
        """Hand each project's next events (up to a batch each) to `consumer`, all
        in one transaction with their offsets; the events delivered, by project.

        When a handler fails, that transaction rolls back and the projects go
        again one transaction each, so only the failing one waits (retried with
        backoff; its offset did not move, so nothing is skipped).
        """
        now = time.monotonic()
        ready = [
            p
            for p in dict.fromkeys(project_ids)
            if (f := self._failing.get((consumer.name, p))) is None or now >= f[1]
        ]
        if not ready:
            return {}
        try:
            return await self._deliver(consumer, ready)
        except Exception:
            if len(ready) == 1:
                self._failed(consumer.name, ready[0])
                return {}
            log.info(
                "consumer %s: a pass over %d projects failed; one by one", consumer.name, len(ready)
            )
        counts: dict[UUID, int] = {}
        for project_id in ready:
            try:
                counts.update(await self._deliver(consumer, [project_id]))
            except Exception:
                self._failed(consumer.name, project_id)
        return counts

    async def _deliver(self, consumer: Consumer, projects: Sequence[UUID]) -> dict[UUID, int]:
        after: list[AfterCommit] = []
        async with self._engine.begin() as conn:
            pending = await outbox.claim_next_events(
                conn, consumer.name, projects, limit=self._batch_size, recent=self.recent
            )
            takers = await _takers(consumer, conn, pending)
            counts = {project_id: len(events) for project_id, events in pending.items()}
            # A project not taken: its handler would do nothing, only the offset moves.
            taken = {p: events for p, events in pending.items() if p in takers}
            if isinstance(consumer, Batched):
                if taken and (done := await consumer.handle_many(conn, taken)) is not None:
                    after.append(done)
            else:
                for events in taken.values():
                    if (done := await consumer.handle(conn, events)) is not None:
                        after.append(done)
            await outbox.advance_many(
                conn, consumer.name, {p: pending[p][-1].version for p in counts}
            )
        for project_id in counts:
            self._failing.pop((consumer.name, project_id), None)
        for done in after:
            try:
                await done()
            except Exception:
                log.exception("consumer %s: after-commit step failed", consumer.name)
        return counts

    def _failed(self, name: str, project_id: UUID) -> None:
        key = (name, project_id)
        failing = self._failing.get(key)
        count = failing[0] + 1 if failing else 1
        self._failing[key] = (count, time.monotonic() + min(0.5 * 2**count, 60.0))
        log.exception("consumer %s failed on project %s (%d times)", name, project_id, count)

    async def run(self, poll_s: float) -> None:
        """Deliver forever, each consumer in its own loop so a slow one (reports
        folding a big batch) never delays another (search freshness). `wake`
        (`kick`) makes every loop's next pass a full one."""
        full = {c.name: asyncio.Event() for c in self._consumers}
        loops = [
            asyncio.create_task(self._run_consumer(c, full[c.name], poll_s))
            for c in self._consumers
        ]
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                for name, event in full.items():
                    event.set()
                    self._wakes[name].set()
        finally:
            for loop in loops:
                loop.cancel()

    async def _run_consumer(self, consumer: Consumer, full: asyncio.Event, poll_s: float) -> None:
        """Passes over the announced projects as announcements arrive, and a full
        pass (every lagging project) every `poll_s` without announcements, or every
        `full_scan_s` with them (catching any announcement that was lost)."""
        wake, dirty = self._wakes[consumer.name], self._dirty[consumer.name]
        last_full = -float("inf")
        limit = self._projects_per_pass
        linger_s = linger_of(consumer, self._linger_s)
        while True:
            wake.clear()
            every = self._full_scan_s if self.announcements else poll_s
            try:
                lagging: list[UUID] = []
                scanned = full.is_set() or time.monotonic() - last_full >= every
                if scanned:
                    full.clear()
                    last_full = time.monotonic()
                    async with self._engine.connect() as conn:
                        lagging = await outbox.lagging_projects(conn, consumer.name, limit=limit)
                    if len(lagging) >= limit:
                        full.set()  # more are behind than one pass takes: scan on
                announced = list(dirty)[:limit]
                left_behind = len(dirty) > limit
                dirty.difference_update(announced)
                projects = list(dict.fromkeys([*lagging, *announced]))
                counts = {}
                for at in range(0, len(projects), PROJECTS_PER_TRANSACTION):
                    chunk = projects[at : at + PROJECTS_PER_TRANSACTION]
                    counts.update(await self.deliver_many(consumer, chunk))
                if scanned:
                    self.full_passes[consumer.name] += 1
            except Exception:
                log.exception("outbox relay pass of %s failed; retrying", consumer.name)
                counts, left_behind = {}, False
            # A project that filled a batch has more waiting.
            filled = [p for p, n in counts.items() if n >= self._batch_size]
            dirty.update(filled)
            backlog = left_behind or bool(filled) or full.is_set()
            pause = pause_after(linger_s, delivered=bool(counts), backlog=backlog)
            if pause is not None:
                # Let more commits gather: one transaction then carries them all.
                await asyncio.sleep(pause)
                continue
            timeout = max(0.0, last_full + every - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    database_url: str
    redis_url: str | None
    consumers: tuple[ConsumerFactory, ...]
    poll_s: float = 0.2
    #: Connections kept open; 0 sizes the pool to the loops that may each hold one.
    pool_size: int = 0
    #: Periodic work that needs no events (`realtime.housekeeping`), run beside the relay.
    chores: tuple[ChoreFactory, ...] = ()
    #: Nice levels the actor's event-loop thread sits below its process's main thread:
    #: its work is eventually consistent, so on a busy node the request path comes first.
    nice: int = 0

    def pool(self) -> int:
        """Each consumer's relay loop and background loop, each chore, and a spare
        pair may hold a connection at once. A smaller pool makes SQLAlchemy open and
        close overflow connections all the time, and every new asyncpg connection
        prepares its statements and introspects its types again (measured: a sixth
        of the relay's CPU under a steady write load)."""
        return self.pool_size or 2 * len(self.consumers) + len(self.chores) + 2


class OutboxActor:
    """The Ray actor running the relay and the consumers' background work."""

    async def __init__(self, config: OutboxConfig) -> None:  # type: ignore[misc]
        # An async constructor: Ray runs it on the actor's event loop, so the loops
        # start here and start again whenever Ray restarts the actor.
        if config.nice:
            # On Linux this is the calling thread's niceness: the thread running the
            # actor's event loop, where the relay and every consumer do their work
            # (and threads started from it), not Ray's own threads. Relative to the
            # process's main thread (Ray may start workers niced already), and set,
            # not added, in case the constructor runs again in this process.
            base = os.getpriority(os.PRIO_PROCESS, os.getpid())
            os.setpriority(os.PRIO_PROCESS, 0, min(19, base + config.nice))
        self._engine = create_engine(config.database_url, pool_size=config.pool(), max_overflow=4)
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
        """Turn hosts' commit announcements (`WAKE_CHANNEL`, project ids)
        into passes over those projects, so consumers see new events at once and
        look only where something changed. Without Redis, or while it is down,
        full passes every `poll_s` still find everything."""
        while True:
            try:
                async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(WAKE_CHANNEL)
                    self._relay.announcements = True
                    async for message in pubsub.listen():
                        try:
                            for project_id in message["data"].split():
                                self._relay.announce(UUID(project_id.decode()))
                        except (ValueError, AttributeError):
                            self._relay.wake.set()  # not a project id: look everywhere
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("commit announcements unavailable (%s); polling only", exc)
            finally:
                self._relay.announcements = False
                self._relay.wake.set()  # announcements may have been missed
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
