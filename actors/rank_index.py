"""The project's cards in board order, kept sorted as commits change them.

A move places a card between neighbours in the project's one total order of
ranks, a new card goes after the last one, and a board shows each column in rank
order. Sorting every task for each of those is O(n log n) per write or read: on a
project of 10,000 cards, milliseconds of a host's CPU each time. `RankIndex` keeps
the order instead (`sortedcontainers.SortedList`: O(log n) per change, O(log n + k)
to read k cards from a position), updated by the grain for each committed task.

Entries are `(rank, number, id)`, the board's order (rank, then number). A staged
batch sees the index as of the last commit; `successor`, `predecessor` and
`last_in` skip the ids the batch changed (`hidden`), whose new ranks the caller
considers itself (`actors.stage`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from typing import overload
from uuid import UUID

from sortedcontainers import SortedList

from domain.tasks import Task

_Key = tuple[str, int, UUID]
#: Sorts after every entry of the same rank (numbers are ints, `inf` is above them).
_AFTER_RANK = math.inf


def _key(task: Task) -> _Key:
    return (task.rank, task.number, task.id)


class RankIndex:
    """Every task's `(rank, number, id)`, as a whole and per status column."""

    def __init__(self, tasks: Iterable[Task] = ()) -> None:
        tasks = list(tasks)
        self._all: SortedList = SortedList(_key(t) for t in tasks)
        self._columns: dict[str, SortedList] = {}
        for task in tasks:
            self._column(task.status).add(_key(task))

    def _column(self, status: str) -> SortedList:
        found = self._columns.get(status)
        if found is None:
            found = self._columns[status] = SortedList()
        return found

    def add(self, task: Task) -> None:
        self._all.add(_key(task))
        self._column(task.status).add(_key(task))

    def remove(self, task: Task) -> None:
        self._all.discard(_key(task))
        column = self._columns.get(task.status)
        if column is not None:
            column.discard(_key(task))

    def replace(self, old: Task, new: Task) -> None:
        if old.rank != new.rank or old.status != new.status or old.number != new.number:
            self.remove(old)
            self.add(new)

    def __len__(self) -> int:
        return len(self._all)

    def successor(self, rank: str, hidden: Container[UUID] = ()) -> str | None:
        """The smallest non-empty rank above `rank`, ignoring `hidden` ids."""
        start = self._all.bisect_right((rank, _AFTER_RANK))
        for r, _, task_id in self._all.islice(start):
            if task_id not in hidden:
                return str(r)
        return None

    def predecessor(self, rank: str, hidden: Container[UUID] = ()) -> str | None:
        """The largest non-empty rank below `rank`, ignoring `hidden` ids."""
        stop = self._all.bisect_left((rank,))
        for r, _, task_id in self._all.islice(0, stop, reverse=True):
            if r and task_id not in hidden:
                return str(r)
        return None

    def last(self, hidden: Container[UUID] = ()) -> str | None:
        """The largest non-empty rank, ignoring `hidden` ids."""
        for r, _, task_id in reversed(self._all):
            if task_id not in hidden:
                return str(r) if r else None
        return None

    def last_in(self, status: str, hidden: Container[UUID] = ()) -> str | None:
        """The largest rank of the column (possibly ""), ignoring `hidden` ids; None
        for an empty column."""
        for r, _, task_id in reversed(self._columns.get(status, ())):
            if task_id not in hidden:
                return str(r)
        return None

    def columns(self, tasks: Mapping[UUID, Task]) -> dict[str, Sequence[Task]]:
        """Each status's tasks in board order, as lazy sequences over `tasks`."""
        return {s: _Column(c, tasks.__getitem__) for s, c in self._columns.items() if c}


class _Column(Sequence[Task]):
    """One column's tasks in board order, read from the index on demand."""

    def __init__(self, keys: SortedList, task_of: Callable[[UUID], Task]) -> None:
        self._keys = keys
        self._task_of = task_of

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> Task: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Task]: ...
    def __getitem__(self, index: int | slice) -> Task | Sequence[Task]:
        if isinstance(index, slice):
            return [self._task_of(k[2]) for k in self._keys[index]]
        return self._task_of(self._keys[index][2])

    def __iter__(self) -> Iterator[Task]:
        for key in self._keys:
            yield self._task_of(key[2])
