"""A grain's tasks as encoded JSON, kept between reads.

Every task read (one task, a page of a list, a board) answers with `Task.as_json()`
encoded by orjson; building that dict for every card of every board was most of a
host's read time. So a grain keeps each task's encoded bytes, made on the first read
that needs them and dropped by `ProjectGrain._apply` when a commit replaces or
removes the task: a fragment is never older than the committed task. Lists and
boards are joins of fragments into one JSON document, which the host returns and
the API replica sends as the response body, never decoding it.

A JSON document joined from orjson fragments is byte for byte the document orjson
makes of the whole (no whitespace either way), which the tests check.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import orjson

from domain.tasks import Task


class TaskFragments:
    """Encoded `Task.as_json()` by task id. Owned by one grain.

    Precondition of `of`: the task is the grain's current (committed) version of
    it; the grain calls `forget` for every task a commit changes.
    """

    __slots__ = ("_encoded",)

    def __init__(self) -> None:
        self._encoded: dict[UUID, bytes] = {}

    def __len__(self) -> int:
        return len(self._encoded)

    def of(self, task: Task) -> bytes:
        """The task's JSON object, encoded on first use."""
        encoded = self._encoded.get(task.id)
        if encoded is None:
            # orjson's result keeps the whole buffer it wrote into (about 8 KB for a
            # task of 500 bytes); a copy of the right size is what stays resident.
            encoded = bytes(memoryview(orjson.dumps(task.as_json())))
            self._encoded[task.id] = encoded
        return encoded

    def array(self, tasks: Iterable[Task]) -> bytes:
        """A JSON array of the tasks' objects."""
        return b"[" + b",".join(map(self.of, tasks)) + b"]"

    def forget(self, task_id: UUID) -> None:
        """Drop a task's fragment (it changed or is gone)."""
        self._encoded.pop(task_id, None)

    def clear(self) -> None:
        self._encoded.clear()
