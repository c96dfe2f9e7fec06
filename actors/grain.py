"""A project grain: the single writer of one project.

Writes enter a mailbox (an asyncio queue) drained by one consumer task, so a
project's commands are decided strictly one after another even though the host
actor runs many calls concurrently. The consumer takes every command waiting in
the mailbox (up to `MAX_BATCH`), decides each against the state as changed by the
ones before it, writes all of them in one transaction conditional on the grain's
epoch (group commit; a host may write several grains' batches in one
transaction, see `actors.host_commit`), and only then updates the hot state,
acknowledges each command and publishes the events.

Reads are served from the hot state, which only ever holds committed data, so a
read that starts after a write was acknowledged sees it. The JSON of tasks that
were read is kept encoded (`actors.task_json`) and the board order sorted, both
dropped by `_apply` for what a commit changed.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from typing import Any
from uuid import UUID

from actors.rank_index import RankIndex
from actors.stage import _Pending, _Stage
from actors.stage_comments import referenced_rows
from actors.task_json import TaskFragments
from actors.views import TaskQuery, board_json, matches
from domain import ranks as rank_rules
from domain.commands import Command, IdempotencyKey, RebalanceRanks, Reply
from domain.errors import DomainError, NotFound, Unavailable
from domain.events import Event
from domain.projects import Project
from domain.sprints import Sprint
from domain.tasks import Task
from storage import telemetry, tracing
from storage.breaker import as_unavailable
from storage.project_store import Batch, Fenced, IdempotencyRace, ProjectStore

__all__ = ["GrainState", "ProjectGrain", "TaskQuery", "_Pending", "_Stage"]

log = logging.getLogger(__name__)

MAX_BATCH = 256
Publisher = Callable[[Project, list[Event]], Awaitable[None]]
#: Writes a batch conditional on an epoch, as `ProjectStore.commit` (raises `Fenced`,
#: `IdempotencyRace`); a host passes its `HostCommitter.commit` to combine grains.
Committer = Callable[[Batch, int], Awaitable[None]]


class GrainState(StrEnum):
    ACTIVATING = "activating"
    READY = "ready"
    FENCED = "fenced"
    PASSIVATED = "passivated"


_TRANSITIONS: dict[GrainState, frozenset[GrainState]] = {
    GrainState.ACTIVATING: frozenset({GrainState.READY, GrainState.PASSIVATED}),
    GrainState.READY: frozenset({GrainState.FENCED, GrainState.PASSIVATED}),
    GrainState.FENCED: frozenset({GrainState.PASSIVATED}),
    GrainState.PASSIVATED: frozenset(),
}


class ProjectGrain:
    """Hot state and single writer of one project. Create with `activate`."""

    def __init__(
        self,
        project: Project,
        tasks: list[Task],
        store: ProjectStore,
        publish: Publisher,
        sprints: list[Sprint] | None = None,
        commit: Committer | None = None,
    ):
        self.project = project
        self.sprints: dict[UUID, Sprint] = {s.id: s for s in sprints or []}
        self._rebalancing = False
        self._tasks: dict[UUID, Task] = {t.id: t for t in tasks}
        self._numbers: list[int] = [t.number for t in tasks]
        self._by_number: dict[int, Task] = {t.number: t for t in tasks}
        # Read caches, made on first use; `_apply` drops what a commit changed.
        self._fragments = TaskFragments()
        self._ranks = RankIndex(tasks)
        self._store = store
        self._write: Committer = commit or self._commit_alone
        self._publish = publish
        self._mailbox: asyncio.Queue[_Pending] = asyncio.Queue()
        self._state = GrainState.ACTIVATING
        self.last_used = time.monotonic()
        self._consumer: asyncio.Task[None] | None = None
        self._background: asyncio.Task[None] | None = None
        self._committing = False

    @classmethod
    async def activate(
        cls,
        project_id: UUID,
        store: ProjectStore,
        publish: Publisher,
        commit: Committer | None = None,
    ) -> ProjectGrain | None:
        """Load the project and take a new epoch; None if it does not exist.

        `commit` writes its batches (default: `store.commit`, a transaction per batch).
        """
        loaded = await store.activate(project_id)
        if loaded is None:
            return None
        project, tasks, sprints = loaded
        grain = cls(project, tasks, store, publish, sprints, commit)
        grain._move(GrainState.READY)
        grain._consumer = asyncio.create_task(grain._consume(), name=f"grain-{project_id}")
        return grain

    # -- lifecycle -------------------------------------------------------------

    @property
    def state(self) -> GrainState:
        return self._state

    def _move(self, to: GrainState) -> None:
        if to not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"grain {self.project.id}: illegal move {self._state} → {to}")
        self._state = to

    @property
    def queued(self) -> int:
        """Commands waiting in the mailbox (a metric)."""
        return self._mailbox.qsize()

    def is_idle(self, idle_seconds: float) -> bool:
        """Nothing queued, nothing being committed, and unused for `idle_seconds`."""
        return (
            not self._committing
            and self._mailbox.empty()
            and time.monotonic() - self.last_used > idle_seconds
        )

    async def passivate(self) -> None:
        """Stop the consumer. Commands still queued are answered `Unavailable`."""
        if self._state is GrainState.PASSIVATED:
            return
        self._move(GrainState.PASSIVATED)
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
        self._fail_queued(Unavailable("project is moving; retry"))

    # -- reads -----------------------------------------------------------------

    def check_org(self, org_id: UUID) -> None:
        """Tenant fence: another organisation's project reads as missing."""
        if self.project.org_id != org_id:
            raise NotFound("project not found")

    def get_task(self, task_id: UUID) -> Task:
        self.last_used = time.monotonic()
        task = self._tasks.get(task_id)
        if task is None:
            raise NotFound("task not found")
        return task

    @property
    def tasks(self) -> dict[UUID, Task]:
        """The committed tasks by id (read-only use)."""
        self.last_used = time.monotonic()
        return self._tasks

    def list_tasks(self, query: TaskQuery) -> tuple[list[Task], int | None]:
        """A page of tasks in number order and the cursor of the next page (or None)."""
        self.last_used = time.monotonic()
        page: list[Task] = []
        accept = matches(query, self.project.workflow)
        for task in self._iter_from(query.after):
            if not accept(task):
                continue
            if len(page) == query.limit:
                return page, page[-1].number
            page.append(task)
        return page, None

    def task_json(self, task_id: UUID) -> tuple[int, bytes]:
        """A task's version and its encoded `as_json()`."""
        task = self.get_task(task_id)
        return task.version, self._fragments.of(task)

    def list_tasks_json(self, query: TaskQuery) -> tuple[bytes, int | None]:
        """`list_tasks` with the page as an encoded JSON array."""
        page, after = self.list_tasks(query)
        return self._fragments.array(page), after

    def board_json(self, query: TaskQuery, per_column: int) -> bytes:
        """The board (`actors.views.board`) as an encoded JSON document."""
        self.last_used = time.monotonic()
        return board_json(
            self.project.workflow,
            self._ranks.columns(self._tasks),
            query,
            per_column=per_column,
            fragments=self._fragments,
        )

    def _iter_from(self, after: int) -> Iterator[Task]:
        start = bisect.bisect_right(self._numbers, after)
        for number in self._numbers[start:]:
            yield self._by_number[number]

    # -- writes ----------------------------------------------------------------

    async def submit(self, command: Command, idempotency: IdempotencyKey | None) -> Reply:
        """Queue a command; return its reply once committed, or raise its DomainError.

        With an idempotency key, a command already committed under that key is
        answered with the stored first reply and not applied again.
        """
        future = self._enqueue(command, idempotency)
        with telemetry.WRITE_SECONDS.time():
            return await future

    def _enqueue(
        self, command: Command, idempotency: IdempotencyKey | None
    ) -> asyncio.Future[Reply]:
        """Put a command in the mailbox now; the future gets its outcome."""
        if self._state is not GrainState.READY:
            raise Unavailable("project is moving; retry")
        self.last_used = time.monotonic()
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        request_id = telemetry.REQUEST_ID.get() or None
        self._mailbox.put_nowait(
            _Pending(command, idempotency, future, tracing.current_context(), request_id)
        )
        return future

    async def _consume(self) -> None:
        while True:
            batch = [await self._mailbox.get()]
            while len(batch) < MAX_BATCH and not self._mailbox.empty():
                batch.append(self._mailbox.get_nowait())
            telemetry.BATCH_SIZE.observe(len(batch))
            self._committing = True
            try:
                await self._commit(batch)
            except Exception as exc:  # the consumer must outlive any one batch
                log.exception("grain %s: batch of %d failed", self.project.id, len(batch))
                _fail(
                    batch, as_unavailable(exc) or Unavailable(f"write failed: {type(exc).__name__}")
                )
                if self._state is GrainState.READY:  # did it commit? Reload from the database.
                    self._move(GrainState.FENCED)
            finally:
                self._committing = False
            if self._state is not GrainState.READY:
                self._fail_queued(Unavailable("project moved to another host; retry"))
                return

    async def _commit(self, batch: list[_Pending]) -> None:
        for _attempt in range(3):
            # A key the replica has just made cannot have a stored reply yet.
            keys = [
                p.idempotency
                for p in batch
                if p.idempotency is not None and not p.idempotency.first_attempt
            ]
            stored = await self._store.find_replies(keys)
            comment_ids, attachment_ids = referenced_rows(p.command for p in batch)
            refs = await self._store.load_refs(self.project.id, comment_ids, attachment_ids)
            staged = _Stage(self.project, self._tasks, self.sprints, refs, self._ranks)
            outcomes: list[Reply | DomainError] = []
            for pending in batch:
                outcomes.append(staged.decide(pending, stored))
            try:
                if staged.batch.events or staged.batch.replies:
                    with telemetry.COMMIT_SECONDS.time(), self._commit_span(batch):
                        await self._write(staged.batch, self.project.epoch)
            except IdempotencyRace:
                continue  # the other transaction committed: the next pass finds its replies
            except Fenced:
                self._move(GrainState.FENCED)
                _fail(batch, Unavailable("project moved to another host; retry"))
                return
            self._apply(staged)
            # Before the replies: a client's next command, sent once it has its
            # reply, then queues behind the rebalance, never ahead of it.
            self._maybe_rebalance(staged)
            for pending, outcome in zip(batch, outcomes, strict=True):
                if pending.future.done():
                    continue
                if isinstance(outcome, DomainError):
                    pending.future.set_exception(outcome)
                else:
                    pending.future.set_result(outcome)
            if staged.batch.project_deleted:
                self._move(GrainState.PASSIVATED)
            if staged.batch.events:
                await self._publish(self.project, staged.batch.events)
            return
        _fail(batch, Unavailable("idempotency keys are being used concurrently; retry"))

    async def _commit_alone(self, batch: Batch, epoch: int) -> None:
        await self._store.commit(batch, epoch=epoch)

    def _commit_span(self, batch: list[_Pending]) -> contextlib.AbstractContextManager[Any]:
        """The batch's trace span: a child of its first command, linked to the rest."""
        if not tracing.enabled():
            return tracing.span("grain.commit")
        return tracing.span(
            "grain.commit",
            parent=batch[0].trace,
            links=[tracing.span_context_of(p.trace) for p in batch[1:]],
            attributes={
                "taskhive.project_id": str(self.project.id),
                "taskhive.batch_size": len(batch),
            },
        )

    def _maybe_rebalance(self, staged: _Stage) -> None:
        """Queue a rank rebalance when this batch wrote an over-long rank. It runs as an
        ordinary command behind whatever is queued already, so it races with no move,
        and ahead of anything queued after this call."""
        if self._rebalancing or self._state is not GrainState.READY:
            return
        if staged.batch.project_deleted:
            return
        written = [t.rank for t in staged.batch.created + staged.batch.updated]
        if not rank_rules.needs_rebalance(written):
            return
        self._rebalancing = True
        queued = self._enqueue(RebalanceRanks(), None)

        async def run() -> None:
            try:
                await queued
            except DomainError as exc:  # the next long rank asks again
                log.info("grain %s: rank rebalance skipped (%s)", self.project.id, exc)
            finally:
                self._rebalancing = False

        self._background = asyncio.get_running_loop().create_task(run())

    def _apply(self, staged: _Stage) -> None:
        self.project = staged.batch.project
        for sprint in staged.batch.sprints:
            self.sprints[sprint.id] = sprint
        for task in staged.batch.created:
            self._tasks[task.id] = task
            self._by_number[task.number] = task
            self._numbers.append(task.number)
            self._ranks.add(task)
        for task in staged.batch.updated:
            self._ranks.replace(self._tasks[task.id], task)
            self._tasks[task.id] = task
            self._by_number[task.number] = task
        for task in staged.batch.deleted:
            self._ranks.remove(self._tasks.pop(task.id))
            del self._by_number[task.number]
            self._numbers.pop(bisect.bisect_left(self._numbers, task.number))
        for task in staged.batch.created + staged.batch.updated + staged.batch.deleted:
            self._fragments.forget(task.id)

    def _fail_queued(self, error: DomainError) -> None:
        while not self._mailbox.empty():
            pending = self._mailbox.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(error)


def _fail(batch: list[_Pending], error: DomainError) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(error)
