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

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.projects import Project
from search import source
from search.messages import ApplyBatch
from search.shards import CONSUMER_NAME, ShardHandles
from storage.outbox import StoredEvent

_WHOLE_PROJECT = frozenset({"workflow.updated"})
_DROP = frozenset({"project.deleted"})
#: After these the project is read again: what the index takes from it (the
#: workflow's status categories, the custom field types) may have changed.
_PROJECT_CHANGED = frozenset({"project.updated", "workflow.updated", "fields.updated"}) | _DROP


class ProjectCache:
    """Projects as the search consumer last read them, most recently used kept.

    The index takes only a project's workflow and field types, which change only
    with the events in `_PROJECT_CHANGED`: a batch with one of them reads the
    project again, any other batch uses the copy. Events arrive in version order,
    so a batch never sees a project older than the last such event before it; a
    deleted project is dropped by its own `project.deleted` event.
    """

    def __init__(self, size: int = 4096) -> None:
        self._items: OrderedDict[UUID, Project] = OrderedDict()
        self._size = size

    def get(self, project_id: UUID) -> Project | None:
        project = self._items.get(project_id)
        if project is not None:
            self._items.move_to_end(project_id)
        return project

    def put(self, project_id: UUID, project: Project | None) -> None:
        if project is None:
            self._items.pop(project_id, None)
            return
        self._items[project_id] = project
        self._items.move_to_end(project_id)
        if len(self._items) > self._size:
            self._items.popitem(last=False)


@dataclass(frozen=True, slots=True)
class SearchConsumerConfig:
    """Picklable factory of the consumer, handed to the outbox relay actor."""

    shards: int

    def __call__(self, engine: AsyncEngine, redis: aioredis.Redis | None) -> SearchConsumer:
        return SearchConsumer(ShardHandles(self.shards))


async def batches_for(
    conn: AsyncConnection,
    pending: Mapping[UUID, Sequence[StoredEvent]],
    projects: ProjectCache | None = None,
) -> list[ApplyBatch]:
    """The index changes of several projects' events (project id → its events in
    version order); projects with nothing to change are left out. The tasks the
    events name are read in one statement for all the projects."""
    out: list[ApplyBatch] = []
    named: dict[UUID, tuple[Project, list[UUID]]] = {}
    for project_id, events in pending.items():
        version = events[-1].version
        types = {e.type for e in events}
        project = None
        if projects is not None and not types & _PROJECT_CHANGED:
            project = projects.get(project_id)
        if project is None:
            project = await source.live_project(conn, project_id, events[0].org_id)
            if projects is not None:
                projects.put(project_id, project)
        if project is None or types & _DROP:
            out.append(ApplyBatch(str(project_id), version, drop_project=True))
        elif types & _WHOLE_PROJECT:
            items, _ = await source.load_tasks(conn, project, None)
            out.append(ApplyBatch(str(project_id), version, tuple(items)))
        elif task_ids := list(dict.fromkeys(e.task_id for e in events if e.task_id is not None)):
            named[project_id] = (project, task_ids)
    if named:
        loaded = await source.load_named_tasks(conn, named)
        for project_id, (items, gone) in loaded.items():
            version = pending[project_id][-1].version
            out.append(
                ApplyBatch(str(project_id), version, tuple(items), tuple(str(g) for g in gone))
            )
    return out


class SearchConsumer:
    name = CONSUMER_NAME
    #: Short: a change must be searchable within a second end to end, and the
    #: shard adds its own commit interval on top.
    linger_s = 0.1

    def __init__(self, handles: ShardHandles) -> None:
        self._handles = handles
        self._projects = ProjectCache()

    async def handle(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        await self.handle_many(conn, {events[0].project_id: events})

    async def handle_many(
        self, conn: AsyncConnection, pending: Mapping[UUID, Sequence[StoredEvent]]
    ) -> None:
        """Every project's changes, one call per shard that holds some of them."""
        batches = await batches_for(conn, pending, self._projects)
        orgs = {str(p): events[0].org_id for p, events in pending.items()}
        await self._handles.call_grouped("apply_many", [(orgs[b.project_id], b) for b in batches])

    async def background(self) -> None:
        return None

    async def close(self) -> None:
        return None
