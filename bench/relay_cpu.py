"""The outbox relay alone: its CPU per write with the real consumers, no Ray, no HTTP.

`bench.writes --profile` measures the relay inside the whole stack, where a
shared 2-core machine blurs everything. This one isolates it: it creates a
scratch database (migrated), seeds `--projects` projects with tasks, and starts
a writer *process* that activates a grain per project and updates task titles
at `--rate` writes/s for `--seconds`, announcing each commit on Redis as the
hosts do. This process runs `OutboxRelay` over the six production consumers
(the search shard actor replaced by a sink: the shard is not the relay's cost;
the consumers' background loops are not started: their cost does not depend on
writes) and counts its own CPU from the first write until every consumer has
caught up. It reports CPU ms per write, relay transactions per write, and the
delay from commit to each consumer's handler (p50/p99).

    python -m bench.relay_cpu --database-url postgresql://postgres@127.0.0.1:5432/postgres \
        --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from actors.grain import ProjectGrain
from actors.outbox import AfterCommit, Batched, Consumer, OutboxRelay
from bench.host_writes import on_scratch_database, seed_projects
from domain.commands import IdempotencyKey, UpdateTask
from domain.events import Event
from domain.projects import Project
from realtime.automation import AutomationConfig
from realtime.blob_collector import CollectorConfig
from realtime.notify_consumer import NotifyConfig
from realtime.webhooks import WebhookConfig
from reports.consumer import ReportsConfig
from search.consumer import SearchConsumer
from storage.blobs import BlobConfig
from storage.db import create_engine
from storage.outbox import StoredEvent
from storage.project_store import ProjectStore


class _ShardSink:
    """Stands in for the search shard actors: takes a batch, keeps nothing."""

    async def call(self, _org_id: Any, _method: str, *_args: Any) -> None:
        return None

    async def call_grouped(self, _method: str, _items: Any) -> None:
        return None


class _Timed:
    """A consumer as is, noting how long after its commit each event reached it."""

    def __init__(self, inner: Consumer) -> None:
        self.inner = inner
        self.name = inner.name
        self.delays: list[float] = []
        for optional in ("linger_s", "interested"):
            if hasattr(inner, optional):
                setattr(self, optional, getattr(inner, optional))
        if isinstance(inner, Batched):  # the relay then hands it a pass at once
            self.handle_many = self._handle_many

    async def _handle_many(
        self, conn: AsyncConnection, pending: Mapping[UUID, Sequence[StoredEvent]]
    ) -> AfterCommit | None:
        now = datetime.now(UTC)
        self.delays += [(now - e.created_at).total_seconds() for es in pending.values() for e in es]
        assert isinstance(self.inner, Batched)
        return await self.inner.handle_many(conn, pending)

    async def handle(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> AfterCommit | None:
        now = datetime.now(UTC)
        self.delays += [(now - e.created_at).total_seconds() for e in events]
        return await self.inner.handle(conn, events)

    async def background(self) -> None:
        return None

    async def close(self) -> None:
        await self.inner.close()


def _consumers(engine: AsyncEngine, scratch: str) -> list[_Timed]:
    made: list[Consumer] = [
        NotifyConfig(mail_dir=Path(scratch), public_url="http://bench", unsubscribe_secret="x")(
            engine, None
        ),
        CollectorConfig(BlobConfig(local_dir=scratch))(engine, None),
        WebhookConfig()(engine, None),
        AutomationConfig(hosts=1)(engine, None),
        ReportsConfig()(engine, None),
        SearchConsumer(_ShardSink()),  # type: ignore[arg-type]
    ]
    return [_Timed(c) for c in made]


def _writer(url: str, redis_url: str, channel: str, args: Any, started: Any) -> None:
    """The writer process: grains of every project, title updates at a steady rate."""
    asyncio.run(_write(url, redis_url, channel, args, started))


async def _write(url: str, redis_url: str, channel: str, args: Any, started: Any) -> None:
    engine = create_engine(url, pool_size=4)
    store = ProjectStore(engine)
    redis = aioredis.from_url(redis_url)

    async def publish(project: Project, _events: list[Event]) -> None:
        await redis.publish(channel, str(project.id))

    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, project_id FROM tasks"))).all()
        user, org = (await conn.execute(text("SELECT u.id, o.id FROM users u, orgs o"))).one()
    grains = {p: await ProjectGrain.activate(p, store, publish) for p in {r[1] for r in rows}}
    rng = random.Random(7)
    started.set()
    t0 = time.monotonic()
    for n in range(int(args.rate * args.seconds)):
        await asyncio.sleep(max(0.0, t0 + n / args.rate - time.monotonic()))
        task_id, project_id = rng.choice(rows)
        key = IdempotencyKey(org, user, uuid.uuid4().hex, "h", True)
        grain = grains[project_id]
        assert grain is not None
        await grain.submit(UpdateTask(user, task_id, {"title": f"bench {n}"}), key)
    for grain in grains.values():
        if grain is not None:
            await grain.passivate()
    await redis.aclose()
    await engine.dispose()


async def _listen(relay: OutboxRelay, redis: aioredis.Redis, channel: str) -> None:
    async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe(channel)
        relay.announcements = True
        async for message in pubsub.listen():
            relay.announce(UUID(message["data"].decode()))


async def _caught_up(engine: AsyncEngine, names: list[str]) -> bool:
    async with engine.connect() as conn:
        behind = await conn.scalar(
            text(
                "SELECT count(*) FROM projects p CROSS JOIN unnest(CAST(:names AS text[])) AS c(n)"
                " LEFT JOIN consumer_offsets o ON o.project_id = p.id AND o.consumer = c.n"
                " WHERE p.version > coalesce(o.version, 0)"
            ),
            {"names": names},
        )
    return bool(behind == 0)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(url: str, args: Any) -> dict[str, Any]:
    await seed_projects(url, args.projects, args.tasks)
    channel = f"bench-relay:{uuid.uuid4().hex}"
    scratch = tempfile.mkdtemp(prefix="relay-cpu-")
    engine = create_engine(url, pool_size=14, max_overflow=4)
    transactions = 0

    def count(*_a: Any) -> None:
        nonlocal transactions
        transactions += 1

    sa_event.listen(engine.sync_engine, "commit", count)
    consumers = _consumers(engine, scratch)
    relay = OutboxRelay(engine, consumers)
    redis = aioredis.from_url(args.redis_url)
    listener = asyncio.create_task(_listen(relay, redis, channel))
    runner = asyncio.create_task(relay.run(0.2))
    spawn = multiprocessing.get_context("spawn")
    started = spawn.Event()
    writer = spawn.Process(target=_writer, args=(url, args.redis_url, channel, args, started))
    writer.start()
    await asyncio.to_thread(started.wait)
    transactions = 0
    for c in consumers:
        c.delays.clear()
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.to_thread(writer.join)
    names = [c.name for c in consumers]
    while True:
        if await _caught_up(engine, names):
            break
        await asyncio.sleep(0.05)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    writes = int(args.rate * args.seconds)
    for task in (runner, listener):
        task.cancel()
    await asyncio.gather(runner, listener, return_exceptions=True)
    await redis.aclose()
    await engine.dispose()
    return {
        "writes": writes,
        "wall_s": round(wall, 1),
        "cpu_ms_per_write": round(1000 * cpu / writes, 2),
        "relay_cpu_share": round(cpu / wall, 3),
        "transactions_per_write": round(transactions / writes, 2),
        "delay_s": {
            c.name: {
                "p50": round(statistics.median(c.delays), 3) if c.delays else None,
                "p99": round(_pct(c.delays, 0.99), 3),
            }
            for c in consumers
        },
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--database-url", required=True, help="a server where a scratch DB may go")
    p.add_argument("--redis-url", required=True)
    p.add_argument("--projects", type=int, default=100)
    p.add_argument("--tasks", type=int, default=20, help="tasks per project")
    p.add_argument("--rate", type=float, default=23.0, help="writes per second")
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args(argv)
    result = on_scratch_database(args.database_url, lambda url: measure(url, args))
    settings = {k: v for k, v in vars(args).items() if k not in ("database_url", "redis_url")}
    print(settings, file=sys.stderr)
    print(result)


if __name__ == "__main__":
    main()
