"""A project grain: the single writer of one project.

Writes enter a mailbox (an asyncio queue) drained by one consumer task, so a
project's commands are decided strictly one after another even though the host
actor runs many calls concurrently. The consumer takes every command waiting in
the mailbox (up to `MAX_BATCH`), decides each against the state as changed by the
ones before it, writes all of them in one transaction conditional on the grain's
epoch (group commit), and only then updates the hot state, acknowledges each
command and publishes the events.

Reads are served from the hot state, which only ever holds committed data, so a
read that starts after a write was acknowledged sees it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from domain import projects as project_rules
from domain import tasks as task_rules
from domain.commands import (
    Command,
    CreateTask,
    DeleteProject,
    DeleteTask,
    IdempotencyKey,
    Reply,
    UpdateProject,
    UpdateTask,
)
from domain.errors import DomainError, InvalidInput, NotFound, Unavailable
from domain.events import Event, EventType
from domain.projects import Project
from domain.tasks import Task
from storage.project_store import Batch, Fenced, IdempotencyRace, ProjectStore

log = logging.getLogger(__name__)

MAX_BATCH = 256
Publisher = Callable[[Project, list[Event]], Awaitable[None]]


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


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """Filters and page of a task list. `after` is the last task number already seen."""

    status: str | None = None
    assignee_id: UUID | None = None
    unassigned: bool = False
    priority: str | None = None
    after: int = 0
    limit: int = 50


@dataclass(slots=True)
class _Pending:
    command: Command
    idempotency: IdempotencyKey | None
    future: asyncio.Future[Reply]


class ProjectGrain:
    """Hot state and single writer of one project. Create with `activate`."""

    def __init__(
        self, project: Project, tasks: list[Task], store: ProjectStore, publish: Publisher
    ):
        self.project = project
        self._tasks: dict[UUID, Task] = {t.id: t for t in tasks}
        self._numbers: list[int] = [t.number for t in tasks]
        self._by_number: dict[int, Task] = {t.number: t for t in tasks}
        self._store = store
        self._publish = publish
        self._mailbox: asyncio.Queue[_Pending] = asyncio.Queue()
        self._state = GrainState.ACTIVATING
        self.last_used = time.monotonic()
        self._consumer: asyncio.Task[None] | None = None
        self._committing = False

    @classmethod
    async def activate(
        cls, project_id: UUID, store: ProjectStore, publish: Publisher
    ) -> ProjectGrain | None:
        """Load the project and take a new epoch; None if it does not exist."""
        loaded = await store.activate(project_id)
        if loaded is None:
            return None
        grain = cls(loaded[0], loaded[1], store, publish)
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

    def list_tasks(self, query: TaskQuery) -> tuple[list[Task], int | None]:
        """A page of tasks in number order and the cursor of the next page (or None)."""
        self.last_used = time.monotonic()
        page: list[Task] = []
        for task in self._iter_from(query.after):
            if query.status is not None and task.status != query.status:
                continue
            if query.priority is not None and task.priority != query.priority:
                continue
            if query.unassigned and task.assignee_id is not None:
                continue
            if query.assignee_id is not None and task.assignee_id != query.assignee_id:
                continue
            if len(page) == query.limit:
                return page, page[-1].number
            page.append(task)
        return page, None

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
        if self._state is not GrainState.READY:
            raise Unavailable("project is moving; retry")
        self.last_used = time.monotonic()
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._mailbox.put_nowait(_Pending(command, idempotency, future))
        return await future

    async def _consume(self) -> None:
        while True:
            batch = [await self._mailbox.get()]
            while len(batch) < MAX_BATCH and not self._mailbox.empty():
                batch.append(self._mailbox.get_nowait())
            self._committing = True
            try:
                await self._commit(batch)
            except Exception as exc:  # the consumer must outlive any one batch
                log.exception("grain %s: batch of %d failed", self.project.id, len(batch))
                _fail(batch, Unavailable(f"write failed: {type(exc).__name__}"))
            finally:
                self._committing = False
            if self._state is not GrainState.READY:
                self._fail_queued(Unavailable("project moved to another host; retry"))
                return

    async def _commit(self, batch: list[_Pending]) -> None:
        for _attempt in range(3):
            keys = [p.idempotency for p in batch if p.idempotency is not None]
            stored = await self._store.find_replies(keys)
            staged = _Stage(self.project, self._tasks)
            outcomes: list[Reply | DomainError] = []
            for pending in batch:
                outcomes.append(staged.decide(pending, stored))
            try:
                if staged.batch.events or staged.batch.replies:
                    await self._store.commit(staged.batch, epoch=self.project.epoch)
            except IdempotencyRace:
                continue  # the other transaction committed: the next pass finds its replies
            except Fenced:
                self._move(GrainState.FENCED)
                _fail(batch, Unavailable("project moved to another host; retry"))
                return
            self._apply(staged)
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

    def _apply(self, staged: _Stage) -> None:
        self.project = staged.batch.project
        for task in staged.batch.created:
            self._tasks[task.id] = task
            self._by_number[task.number] = task
            self._numbers.append(task.number)
        for task in staged.batch.updated:
            self._tasks[task.id] = task
            self._by_number[task.number] = task
        for task in staged.batch.deleted:
            del self._tasks[task.id]
            del self._by_number[task.number]
            self._numbers.pop(bisect.bisect_left(self._numbers, task.number))

    def _fail_queued(self, error: DomainError) -> None:
        while not self._mailbox.empty():
            pending = self._mailbox.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(error)


def _fail(batch: list[_Pending], error: DomainError) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(error)


class _Stage:
    """Decides a batch's commands against the state as changed by earlier ones."""

    def __init__(self, project: Project, tasks: dict[UUID, Task]) -> None:
        self.batch = Batch(project=project)
        self._base = tasks
        self._overlay: dict[UUID, Task | None] = {}
        self._decided: dict[tuple[UUID, UUID, str], tuple[str, Reply]] = {}
        self.now = datetime.now(UTC)

    def _current_tasks(self) -> list[Task]:
        """Every task as the batch has left it so far."""
        current = [t for tid, t in self._base.items() if tid not in self._overlay]
        return current + [t for t in self._overlay.values() if t is not None]

    def _task(self, task_id: UUID) -> Task:
        task = self._overlay[task_id] if task_id in self._overlay else self._base.get(task_id)
        if task is None:
            raise NotFound("task not found")
        return task

    def decide(
        self, pending: _Pending, stored: dict[tuple[UUID, UUID, str], tuple[str, Reply]]
    ) -> Reply | DomainError:
        key = pending.idempotency
        if key is not None:
            ident = (key.org_id, key.user_id, key.key)
            # A retry may arrive in the same batch as its first attempt.
            hit = stored.get(ident) or self._decided.get(ident)
            if hit is not None:
                request_hash, reply = hit
                if request_hash != key.request_hash:
                    return InvalidInput(
                        "Idempotency-Key was already used with a different request body"
                    )
                return reply
        try:
            reply = self._decide(pending.command)
        except DomainError as error:
            return error
        if key is not None:
            self.batch.replies.append((key, reply))
            replay = dataclasses.replace(reply, replayed=True)
            self._decided[(key.org_id, key.user_id, key.key)] = (key.request_hash, replay)
        return reply

    def _event(
        self,
        type_: EventType,
        actor: UUID,
        task_id: UUID | None,
        payload: dict[str, Any] | Callable[[Project], dict[str, Any]],
    ) -> None:
        """Record one event and bump the project's version to number it."""
        project = dataclasses.replace(self.batch.project, version=self.batch.project.version + 1)
        self.batch.project = project
        body = payload(project) if callable(payload) else payload
        self.batch.events.append(
            Event(project.id, project.version, type_, actor, task_id, body, self.now)
        )

    def _decide(self, command: Command) -> Reply:
        if self.batch.project_deleted:
            raise NotFound("project not found")
        project = self.batch.project
        match command:
            case CreateTask(actor_id=actor, fields=fields):
                number = project.task_seq + 1
                task = task_rules.new_task(
                    id=uuid4(),
                    org_id=project.org_id,
                    project_id=project.id,
                    project_key=project.key,
                    number=number,
                    reporter_id=actor,
                    fields=fields,
                    statuses=project.statuses,
                    now=self.now,
                )
                self.batch.project = dataclasses.replace(project, task_seq=number)
                self._overlay[task.id] = task
                self.batch.created.append(task)
                body = task.as_json()
                self._event(EventType.TASK_CREATED, actor, task.id, {"task": body})
                return Reply(201, body)
            case UpdateTask(actor_id=actor, task_id=task_id, changes=changes, if_match=if_match):
                task = self._task(task_id)
                updated, diff = task_rules.changed_task(
                    task, changes, if_match=if_match, statuses=project.statuses, now=self.now
                )
                if diff:
                    self._overlay[task.id] = updated
                    self._replace_updated(updated)
                    body = updated.as_json()
                    changed = {k: body[k] for k in diff}
                    self._event(
                        EventType.TASK_UPDATED,
                        actor,
                        task.id,
                        {"task_id": str(task.id), "version": updated.version, "changes": changed},
                    )
                return Reply(200, updated.as_json())
            case DeleteTask(actor_id=actor, task_id=task_id, if_match=if_match):
                task = self._task(task_id)
                task_rules.check_version(task, if_match)
                self._overlay[task.id] = None
                self._drop_from_batch(task)
                self._event(
                    EventType.TASK_DELETED,
                    actor,
                    task.id,
                    {"task_id": str(task.id), "key": task.key},
                )
                return Reply(204, None)
            case UpdateProject(actor_id=actor, changes=changes):
                return self._update_project(actor, changes)
            case DeleteProject(actor_id=actor):
                self.batch.project_deleted = True
                self._event(EventType.PROJECT_DELETED, actor, None, {"project_id": str(project.id)})
                return Reply(204, None)
        raise InvalidInput(f"unknown command {type(command).__name__}")

    def _replace_updated(self, task: Task) -> None:
        for i, created in enumerate(self.batch.created):
            if created.id == task.id:
                self.batch.created[i] = task
                return
        self.batch.updated = [u for u in self.batch.updated if u.id != task.id] + [task]

    def _drop_from_batch(self, task: Task) -> None:
        if any(c.id == task.id for c in self.batch.created):
            self.batch.created = [c for c in self.batch.created if c.id != task.id]
            return
        self.batch.updated = [u for u in self.batch.updated if u.id != task.id]
        self.batch.deleted.append(task)

    def _update_project(self, actor: UUID, changes: dict[str, Any]) -> Reply:
        project = self.batch.project
        unknown = sorted(set(changes) - project_rules.EDITABLE_FIELDS)
        if unknown:
            raise InvalidInput.field(unknown[0], "field cannot be changed")
        new = project
        if "name" in changes:
            new = dataclasses.replace(new, name=project_rules.check_name(changes["name"]))
        if "description" in changes:
            new = dataclasses.replace(new, description=changes["description"] or "")
        if "settings" in changes:
            settings = dict(changes["settings"])
            statuses = project_rules.statuses_from_settings(settings)
            in_use = {t.status for t in self._current_tasks()}
            orphaned = sorted(in_use - set(statuses))
            if orphaned:
                raise InvalidInput.field(
                    "settings", f"status {orphaned[0]!r} is still used by tasks"
                )
            new = dataclasses.replace(new, settings=settings, statuses=statuses)
        if "team_ids" in changes:
            new = dataclasses.replace(new, team_ids=tuple(changes["team_ids"]))
            self.batch.teams_changed = True
        if new != project:
            self.batch.project = new
            self.batch.project_changed = True
            # The payload must carry the version this very event gives the project.
            self._event(EventType.PROJECT_UPDATED, actor, None, lambda p: {"project": p.as_json()})
        return Reply(200, self.batch.project.as_json())
