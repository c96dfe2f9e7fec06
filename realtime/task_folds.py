"""A task as of each of its events, for consumers of the event stream.

Notifications and webhooks act on "the task when this happened": they fold the
task's committed events up to the one in hand rather than read the row, which
may have moved on since. Folding a task's whole history for every event makes
each event cost as much as the task is old; `TaskFolds` remembers each task's
state after the last event it folded, so a later batch reads only the events
that came after it, in one statement for the batch.

When a project's batches arrive back to back (each starts right after the last
one folded), no statement is needed at all: every event of a remembered task
in between was in those batches and was folded. A batch that does not follow
on (a consumer skipped one, or another relay took it) ends that shortcut for
the tasks remembered so far (a new "run" of the project), and they read what
came after their last folded event.

What is remembered is a fold of committed events, which never change, so it
stays right whatever happens to the consumer's transaction: a batch delivered
again (its transaction rolled back) starts at or before a remembered version,
and such a task is folded from its first event again.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from storage import outbox
from storage.outbox import StoredEvent

__all__ = ["Folded", "TaskFolds"]

S = TypeVar("S")

TASK_CREATED = "task.created"

#: Tasks remembered per consumer. Beyond it the least recently folded is
#: forgotten and, if it comes back, folded from its first event again.
CAPACITY = 10_000


@dataclass(frozen=True, slots=True)
class Folded(Generic[S]):
    """One event of the batch with its task just before and just after it."""

    event: StoredEvent
    before: S | None
    after: S | None


class TaskFolds(Generic[S]):
    """See the module docstring. `apply(state, event_type, payload)` is the task
    after one event (None: deleted, or unknown); `state` is None before creation."""

    def __init__(
        self,
        apply: Callable[[S | None, str, Mapping[str, Any]], S | None],
        *,
        capacity: int = CAPACITY,
    ) -> None:
        self._apply = apply
        self._capacity = capacity
        # task id → (project id, version of its last event folded, the run it was
        # folded in, the task after that event)
        self._known: OrderedDict[UUID, tuple[UUID, int, int, S | None]] = OrderedDict()
        # project id → (the last version folded, the current run): batches that
        # follow on stay in one run, any other starts a new one.
        self._projects: OrderedDict[UUID, tuple[int, int]] = OrderedDict()
        self._runs = itertools.count(1)
        #: Statements sent to read events outside the batches (for tests and metrics).
        self.reads = 0

    def __len__(self) -> int:
        return len(self._known)

    async def fold(
        self,
        conn: AsyncConnection,
        events: Sequence[StoredEvent],
        wanted: Callable[[StoredEvent], bool],
    ) -> list[Folded[S]]:
        """The `wanted` events of one project's batch (consecutive versions, in
        order), each with its task before and after it. Every event of those
        tasks in the batch is folded in order, wanted or not, and so is every
        event of a task remembered in the project's current run."""
        if not events:
            return []
        project_id = events[0].project_id
        last_folded, run = self._projects.get(project_id, (None, 0))
        follows_on = last_folded == events[0].version - 1
        if not follows_on:
            run = next(self._runs)
        self._projects[project_id] = (events[-1].version, run)
        self._projects.move_to_end(project_id)
        while len(self._projects) > self._capacity:
            self._projects.popitem(last=False)
        wanted_tasks = {e.task_id for e in events if e.task_id is not None and wanted(e)}
        first: dict[UUID, StoredEvent] = {}  # each folded task's first event here
        for e in events:
            task_id = e.task_id
            if task_id is None or task_id in first:
                continue
            known = self._known.get(task_id)
            if task_id in wanted_tasks or (
                known is not None and known[0] == project_id and known[2] == run
            ):
                first[task_id] = e
        if not first:
            return []
        states = await self._states_before(
            conn,
            project_id,
            [t for t, e in first.items() if e.type != TASK_CREATED],
            before=events[0].version,
            run=run if follows_on else None,
        )
        out: list[Folded[S]] = []
        last: dict[UUID, int] = {}
        for e in events:
            task_id = e.task_id
            if task_id is None or task_id not in first:
                continue
            before = states.get(task_id)
            after = self._apply(before, e.type, e.payload)
            states[task_id] = after
            last[task_id] = e.version
            if wanted(e):
                out.append(Folded(e, before, after))
        for task_id, version in last.items():
            self._remember(task_id, (project_id, version, run, states[task_id]))
        return out

    async def as_of(
        self, conn: AsyncConnection, project_id: UUID, task_id: UUID, version: int
    ) -> S | None:
        """The task just after its events up to `version` (one task, outside any
        batch: an automation run's condition). Reads only the events after the
        last version this task was folded to, when that is not beyond `version`."""
        known = self._known.get(task_id)
        if known is not None and known[0] == project_id and known[1] == version:
            self._known.move_to_end(task_id)
            return known[3]
        state = (
            await self._states_before(conn, project_id, [task_id], before=version + 1, run=None)
        )[task_id]
        # Folded through `version`, in no run: batches never take it as current.
        self._remember(task_id, (project_id, version, 0, state))
        return state

    async def _states_before(
        self,
        conn: AsyncConnection,
        project_id: UUID,
        task_ids: list[UUID],
        *,
        before: int,
        run: int | None,
    ) -> dict[UUID, S | None]:
        """Each task as of its last event below version `before`. `run`: the
        project's run when this batch follows on from the last one folded."""
        start: dict[UUID, S | None] = {}
        since: dict[UUID, int] = {}
        for task_id in task_ids:
            known = self._known.get(task_id)
            if known is None or known[0] != project_id or known[1] >= before:
                since[task_id], start[task_id] = -1, None  # from its first event
            elif known[2] == run:
                start[task_id] = known[3]  # folded through the last batch: nothing to read
            else:
                since[task_id], start[task_id] = known[1], known[3]
        if not since:
            return start
        self.reads += 1
        histories = await outbox.task_histories(conn, project_id, since, before=before)
        for task_id, history in histories.items():
            state = start[task_id]
            for event_type, payload in history:
                state = self._apply(state, event_type, payload)
            start[task_id] = state
        return start

    def _remember(self, task_id: UUID, entry: tuple[UUID, int, int, S | None]) -> None:
        self._known[task_id] = entry
        self._known.move_to_end(task_id)
        while len(self._known) > self._capacity:
            self._known.popitem(last=False)
