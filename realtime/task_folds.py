"""A task as of each of its events, for consumers of the event stream.

Notifications and webhooks act on "the task when this happened": they fold the
task's committed events up to the one in hand rather than read the row, which
may have moved on since. Folding a task's whole history for every event makes
each event cost as much as the task is old; `TaskFolds` remembers each task's
state after the last event it folded, so a later batch reads only the events
that came after it (usually none: the batch itself holds them).

What is remembered is a fold of committed events, which never change, so it
stays right whatever happens to the consumer's transaction: a batch delivered
again (its transaction rolled back) starts at or before a remembered version,
and such a task is folded from its first event again.
"""

from __future__ import annotations

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
        # task id → (project id, version of the last event folded, the task after it)
        self._known: OrderedDict[UUID, tuple[UUID, int, S | None]] = OrderedDict()

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
        tasks in the batch is folded in order, wanted or not."""
        wanted_tasks = {e.task_id for e in events if e.task_id is not None and wanted(e)}
        if not wanted_tasks:
            return []
        project_id = events[0].project_id
        first: dict[UUID, StoredEvent] = {}  # each of those tasks' first event here
        for e in events:
            if e.task_id in wanted_tasks and e.task_id not in first:
                first[e.task_id] = e
        states = await self._states_before(
            conn,
            project_id,
            [t for t, e in first.items() if e.type != TASK_CREATED],
            before=events[0].version,
        )
        out: list[Folded[S]] = []
        last: dict[UUID, int] = {}
        for e in events:
            task_id = e.task_id
            if task_id is None or task_id not in wanted_tasks:
                continue
            before = states.get(task_id)
            after = self._apply(before, e.type, e.payload)
            states[task_id] = after
            last[task_id] = e.version
            if wanted(e):
                out.append(Folded(e, before, after))
        for task_id, version in last.items():
            self._remember(task_id, project_id, version, states[task_id])
        return out

    async def _states_before(
        self, conn: AsyncConnection, project_id: UUID, task_ids: list[UUID], *, before: int
    ) -> dict[UUID, S | None]:
        """Each task as of its last event below version `before`."""
        start: dict[UUID, S | None] = {}
        since: dict[UUID, int] = {}
        for task_id in task_ids:
            known = self._known.get(task_id)
            if known is not None and known[0] == project_id and known[1] < before:
                since[task_id], start[task_id] = known[1], known[2]
            else:
                since[task_id], start[task_id] = -1, None  # from its first event
        histories = await outbox.task_histories(conn, project_id, since, before=before)
        for task_id, history in histories.items():
            state = start[task_id]
            for event_type, payload in history:
                state = self._apply(state, event_type, payload)
            start[task_id] = state
        return start

    def _remember(self, task_id: UUID, project_id: UUID, version: int, state: S | None) -> None:
        self._known[task_id] = (project_id, version, state)
        self._known.move_to_end(task_id)
        while len(self._known) > self._capacity:
            self._known.popitem(last=False)
