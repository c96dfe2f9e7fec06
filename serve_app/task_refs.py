"""Where a task lives: its reference → `(project_id, task_id)`, cached per replica.

Every request about one task (read, edit, move, comment) first needs the task's
project, to find the grain that owns it. The answer never changes, so each replica
keeps it (`RefCache`). A miss reads `task_lookup`; under load many requests miss at
once (a replica serves tasks of every project, and the cache starts empty), and
each miss used to take a pooled connection for a point read of its own.
`RefResolver` sends the misses of one moment together instead: while one
statement is in flight, the ids that miss wait, and then go in the next one, one
`id = ANY($2)` read per organisation on one connection (the pattern of the hosts'
group commit).

Tasks are read together with others of their project: a board, then its cards; a
list, then the tasks in it. So the first miss in a project also reads the ids of
all its tasks, in the background, into the cache (`RefResolver` with a cache):
one index scan of the project's primary key, after which its tasks resolve in
the replica. Projects larger than `prefetch_max` tasks are read only that far.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from itertools import islice
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from storage import catalog
from storage.db import driver_connection

log = logging.getLogger(__name__)

Location = tuple[UUID, UUID]  # (project_id, task_id)
#: References a replica keeps by default: every task of a million-task deployment.
CACHE_ENTRIES = 1_000_000
#: Distinct (organisation, project) tuples the cache shares before it starts anew.
_SHARED_PAIRS = 100_000


class RefCache:
    """A bounded LRU of task references → `(project_id, task_id)`, looked up by
    `(org_id, reference)`.

    Safe to cache without invalidation: a task never changes project, and a
    reference to a deleted task still leads to its project, whose grain says 404.

    Kept compact, because how many references a replica holds decides how many
    requests need a statement first. An entry is keyed by the reference alone
    and holds the organisation and project as one tuple shared by every task of
    the project; a reference that is the task id as text (nearly all of them)
    holds no task id of its own, it is read back from the reference. About 165
    bytes an entry, reference included, against 400 for a tuple key and a tuple
    value. A key (`WEB-12`) asked for in two organisations holds one of them at
    a time.

    The default capacity holds every reference of a million tasks (about 160
    MiB when full; `TASKHIVE_TASK_REF_CACHE_ENTRIES`). With a quarter of that,
    a million-task workload kept resolving tasks in PostgreSQL once the cache
    was full (docs/performance.md).
    """

    def __init__(self, capacity: int = CACHE_ENTRIES) -> None:
        # reference → (org_id, project_id), or (org_id, project_id, task_id) when
        # the reference is not the task id as text.
        self._items: OrderedDict[str, tuple[UUID, ...]] = OrderedDict()
        self._shared: dict[tuple[UUID, UUID], tuple[UUID, UUID]] = {}
        self._capacity = capacity

    def _entry(self, org_id: UUID, ref: str, value: Location) -> tuple[UUID, ...]:
        project_id, task_id = value
        if ref != str(task_id):
            return (org_id, project_id, task_id)
        pair = (org_id, project_id)
        if len(self._shared) >= _SHARED_PAIRS:
            self._shared.clear()  # entries keep theirs; later ones share anew
        return self._shared.setdefault(pair, pair)

    def get(self, key: tuple[UUID, str]) -> Location | None:
        org_id, ref = key
        entry = self._items.get(ref)
        if entry is None or entry[0] != org_id:
            return None
        self._items.move_to_end(ref)
        return (entry[1], entry[2]) if len(entry) == 3 else (entry[1], UUID(ref))

    def put(self, key: tuple[UUID, str], value: Location) -> None:
        org_id, ref = key
        self._items[ref] = self._entry(org_id, ref, value)
        self._items.move_to_end(ref)
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def put_absent(self, key: tuple[UUID, str], value: Location) -> None:
        """What a read-ahead puts: only into free room, as the entry evicted first,
        so it never displaces a reference a request used."""
        org_id, ref = key
        if ref not in self._items and len(self._items) < self._capacity:
            self._items[ref] = self._entry(org_id, ref, value)
            self._items.move_to_end(ref, last=False)

    def __len__(self) -> int:
        return len(self._items)


class RefResolver:
    """Task ids resolved many to a statement; one statement in flight at a time.

    A caller that is cancelled stops waiting; the others, and the statement, carry
    on. A failed statement fails every id it carried (each caller answers 503 as a
    single read would have); the next batch tries again.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 500,
        cache: RefCache | None = None,
        prefetch_max: int = 100_000,
        prefetched_projects: int = 10_000,
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._waiting: dict[tuple[UUID, UUID], asyncio.Future[Location | None]] = {}
        self._drainer: asyncio.Task[None] | None = None
        # Whole projects read into `cache` (None: no prefetch), oldest first: one
        # forgotten here is read again on its next miss.
        self._cache = cache
        self._prefetch_max = prefetch_max
        self._prefetched: OrderedDict[tuple[UUID, UUID], None] = OrderedDict()
        self._prefetched_cap = prefetched_projects
        self._to_prefetch: dict[tuple[UUID, UUID], None] = {}
        self._prefetcher: asyncio.Task[None] | None = None

    async def resolve(self, org_id: UUID, task_id: UUID) -> Location | None:
        """`(project_id, task_id)` of the task `task_id` of `org_id`, None if there is none."""
        key = (org_id, task_id)
        future = self._waiting.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[key] = future
            if self._drainer is None:
                self._drainer = asyncio.create_task(self._drain(), name="task-refs")
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = dict(islice(self._waiting.items(), self._max_batch))
                for key in batch:
                    del self._waiting[key]
                try:
                    found = await self._fetch(list(batch))
                except asyncio.CancelledError:
                    for future in batch.values():
                        future.cancel()
                    raise
                except Exception as exc:
                    for future in batch.values():
                        future.set_exception(exc)
                    continue
                # Only this task settles the futures (callers wait through a shield).
                for (org_id, task_id), future in batch.items():
                    project_id = found.get((org_id, task_id))
                    future.set_result(None if project_id is None else (project_id, task_id))
                    if project_id is not None:
                        self._prefetch(org_id, project_id)
        finally:
            self._drainer = None
            for future in self._waiting.values():  # only when cancelled: nobody drains them
                future.cancel()
            self._waiting.clear()

    async def _fetch(self, keys: list[tuple[UUID, UUID]]) -> dict[tuple[UUID, UUID], UUID]:
        """(org_id, task_id) → project_id of those that exist."""
        by_org: dict[UUID, list[UUID]] = {}
        for org_id, task_id in keys:
            by_org.setdefault(org_id, []).append(task_id)
        found: dict[tuple[UUID, UUID], UUID] = {}
        async with driver_connection(self._engine) as conn:
            for org_id, task_ids in by_org.items():
                projects = await catalog.projects_of_tasks(conn, org_id=org_id, task_ids=task_ids)
                found.update(((org_id, t), p) for t, p in projects.items())
        return found

    def _prefetch(self, org_id: UUID, project_id: UUID) -> None:
        """Read every task id of the project into the cache, unless done or queued."""
        key = (org_id, project_id)
        if self._cache is None or key in self._prefetched or key in self._to_prefetch:
            return
        self._to_prefetch[key] = None
        if self._prefetcher is None:
            self._prefetcher = asyncio.create_task(self._prefetch_all(), name="task-refs-prefetch")

    async def _prefetch_all(self) -> None:
        assert self._cache is not None
        try:
            while self._to_prefetch:
                org_id, project_id = key = next(iter(self._to_prefetch))
                try:
                    async with driver_connection(self._engine) as conn:
                        ids = await catalog.task_ids_of_project(
                            conn, project_id=project_id, limit=self._prefetch_max
                        )
                except Exception:  # best effort: misses still resolve one by one
                    log.warning("reading the task ids of project %s failed", project_id)
                    ids = []
                else:
                    self._prefetched[key] = None
                    if len(self._prefetched) > self._prefetched_cap:
                        self._prefetched.popitem(last=False)
                del self._to_prefetch[key]
                for task_id in ids:
                    self._cache.put_absent((org_id, str(task_id)), (project_id, task_id))
        finally:
            self._prefetcher = None
            self._to_prefetch.clear()

    async def close(self) -> None:
        for task in (self._drainer, self._prefetcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
