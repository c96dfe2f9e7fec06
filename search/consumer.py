"""The search index's outbox consumer: events → current task documents → shard actor.

For each delivered batch of a project's events it reads, in the relay's
transaction, the *current* state of the tasks those events touch (with their
comments and attachment counts) and hands it to the organisation's shard actor.
Applying current state is idempotent, so at-least-once delivery and replays
(after a crash, a rebuild, an offset rewind) are harmless. A project that was
deleted loses all its documents; a workflow change re-reads all its tasks
(status categories may have moved).

The call to the actor returns once the actor holds the changes, not after its
commit: the actor persists, with each commit, how far each project got, and
rewinds this consumer's offsets on restart (see `search.actor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from search import source
from search.messages import ApplyBatch
from search.shards import CONSUMER_NAME, ShardHandles
from storage.outbox import StoredEvent

_WHOLE_PROJECT = frozenset({"workflow.updated"})
_DROP = frozenset({"project.deleted"})


@dataclass(frozen=True, slots=True)
class SearchConsumerConfig:
    """Picklable factory of the consumer, handed to the outbox relay actor."""

    shards: int

    def __call__(self, engine: AsyncEngine, redis: aioredis.Redis | None) -> SearchConsumer:
        return SearchConsumer(ShardHandles(self.shards))


async def batch_for(conn: AsyncConnection, events: Sequence[StoredEvent]) -> ApplyBatch | None:
    """The index changes of one project's events (None: nothing to change)."""
    project_id = events[0].project_id
    version = events[-1].version
    types = {e.type for e in events}
    project = await source.live_project(conn, project_id, events[0].org_id)
    if project is None or types & _DROP:
        return ApplyBatch(str(project_id), version, drop_project=True)
    if types & _WHOLE_PROJECT:
        items, _ = await source.load_tasks(conn, project, None)
        return ApplyBatch(str(project_id), version, tuple(items))
    task_ids = list(dict.fromkeys(e.task_id for e in events if e.task_id is not None))
    if not task_ids:
        return None
    items, gone = await source.load_tasks(conn, project, task_ids)
    return ApplyBatch(str(project_id), version, tuple(items), tuple(str(g) for g in gone))


class SearchConsumer:
    name = CONSUMER_NAME
    #: Short: a change must be searchable within a second end to end, and the
    #: shard adds its own commit interval on top.
    linger_s = 0.1

    def __init__(self, handles: ShardHandles) -> None:
        self._handles = handles

    async def handle(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        batch = await batch_for(conn, events)
        if batch is not None:
            shard = await self._handles.for_org(events[0].org_id)
            await shard.apply.remote(batch)
        return None

    async def background(self) -> None:
        return None

    async def close(self) -> None:
        return None
