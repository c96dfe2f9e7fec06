"""Group commit across the grains of one host.

Each grain already writes the commands queued in its mailbox as one batch. Under
load on many projects that is still one transaction per grain and batch. A
`HostCommitter` is shared by the grains of one `ProjectHost`: while one combined
transaction is in flight, the batches other grains stage wait, and then all of
them go in the next one (`storage.group_commit.commit_together`). One writer per
project still holds: a grain has at most one batch in flight, and each batch is
fenced by its own project's epoch inside the combined transaction.

What a grain sees does not change: `commit(batch, epoch)` returns once its batch
committed, raises `Fenced` when its project's epoch moved on (nothing of it was
written; the other projects' batches commit), and `IdempotencyRace` or any other
error as `ProjectStore.commit` does. When the database refuses the combined
statement (a key race, a constraint, a deadlock), every batch of it is written
again alone, concurrently, through `ProjectStore.commit`, so one bad batch fails
only its own grain. Batches of other shapes (project settings, deletions, comments,
sprints) always take `ProjectStore.commit`.

`TASKHIVE_HOST_GROUP_COMMIT=0` turns it off (every grain commits alone), to
measure against or as an escape hatch.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from storage import telemetry
from storage.group_commit import NotCommitted, combinable, commit_together
from storage.project_store import Batch, Fenced, ProjectStore

log = logging.getLogger(__name__)

ENV = "TASKHIVE_HOST_GROUP_COMMIT"
#: Batches (projects) in one combined transaction at most; the rest wait for the next.
MAX_PROJECTS = 128
#: Writes `(batch, epoch)` pairs in one transaction, returns the fenced ones'
#: `(project id, epoch)` (`storage.group_commit.commit_together` over the host's engine).
WriteTogether = Callable[[Sequence[tuple[Batch, int]]], Awaitable[set[tuple[UUID, int]]]]


def enabled() -> bool:
    """Whether hosts combine their grains' commits (`TASKHIVE_HOST_GROUP_COMMIT`, default on)."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "off", "false", "no")


@dataclass(slots=True)
class _Waiting:
    batch: Batch
    epoch: int
    done: asyncio.Future[None]


class HostCommitter:
    """Combines the commits of one host's grains. Use from the host's event loop only."""

    def __init__(
        self,
        store: ProjectStore,
        *,
        together: WriteTogether | None = None,
        max_projects: int = MAX_PROJECTS,
    ) -> None:
        self._store = store
        self._together = together or functools.partial(commit_together, store.engine)
        self._max = max_projects
        self._waiting: list[_Waiting] = []
        self._flusher: asyncio.Task[None] | None = None

    async def commit(self, batch: Batch, epoch: int) -> None:
        """Write `batch` conditional on `epoch`; return once it committed.

        Raises as `ProjectStore.commit` does. Called by a grain's consumer, which has
        at most one batch in flight, so no two waiting batches share a project.
        """
        if not combinable(batch):
            await self._store.commit(batch, epoch=epoch)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(batch, epoch, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="host-group-commit")
        await done

    async def _flush(self) -> None:
        """Commit what waits, one combined transaction at a time, until nothing waits."""
        group: list[_Waiting] = []
        try:
            while self._waiting:
                group, self._waiting = self._waiting[: self._max], self._waiting[self._max :]
                # A grain that stopped waiting (passivated, cancelled) writes nothing more.
                group = [w for w in group if not w.done.done()]
                if group:
                    await self._commit_group(group)
        finally:  # cancelled (the host is closing): no grain may wait forever
            for w in group + self._waiting:
                _settle(w, RuntimeError("the host's group commit stopped"))

    async def _commit_group(self, group: list[_Waiting]) -> None:
        telemetry.HOST_COMMIT_PROJECTS.observe(len(group))
        try:
            fenced = await self._together([(w.batch, w.epoch) for w in group])
        except NotCommitted as exc:
            cause = exc.__cause__
            if len(group) == 1 and isinstance(cause, Exception):
                _settle(group[0], cause)  # rolled back, as `ProjectStore.commit` would have
                return
            log.info("combined commit of %d projects failed (%s)", len(group), exc)
            telemetry.HOST_COMMIT_FALLBACKS.inc()
            await asyncio.gather(*(self._alone(w) for w in group))
            return
        except Exception as exc:  # e.g. the connection was lost: the outcome is unknown
            for w in group:
                _settle(w, exc)
            return
        for w in group:
            project_id = w.batch.project.id
            if (project_id, w.epoch) in fenced:
                _settle(w, Fenced(f"project {project_id} is no longer owned by epoch {w.epoch}"))
            else:
                _settle(w, None)

    async def _alone(self, waiting: _Waiting) -> None:
        try:
            await self._store.commit(waiting.batch, epoch=waiting.epoch)
        except Exception as exc:
            _settle(waiting, exc)
        else:
            _settle(waiting, None)


def _settle(waiting: _Waiting, error: Exception | None) -> None:
    """Answer a waiting grain (unless it stopped waiting: a passivated grain)."""
    if waiting.done.done():
        return
    if error is None:
        waiting.done.set_result(None)
    else:
        waiting.done.set_exception(error)
