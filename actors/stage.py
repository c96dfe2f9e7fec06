"""The grain's decision stage: one batch of commands decided against the state as
changed by the earlier ones, with no I/O.

`_Stage` owns the batch being built (`Batch`), an overlay of the tasks and sprints
it changed, and the rules every task change goes through (`change_task`): field
validation, the workflow engine and WIP limits on status changes, the subtask
tree, labels, sprints and the sprint-scope events reports need. Commands beyond
task CRUD are decided in `actors.stage_ops` and `actors.stage_sprints`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from actors.rank_index import RankIndex
from domain import custom_fields, hierarchy
from domain import projects as project_rules
from domain import ranks as rank_rules
from domain import tasks as task_rules
from domain import workflow as engine
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
from domain.errors import Conflict, DomainError, InvalidInput, NotFound
from domain.events import Event, EventType
from domain.projects import Project
from domain.sprints import Sprint, SprintState, accepts_tasks
from domain.tasks import Task
from storage.project_store import Batch
from storage.task_extras import Refs


@dataclass(slots=True)
class _Pending:
    command: Command
    idempotency: IdempotencyKey | None
    future: asyncio.Future[Reply]
    #: The submitter's trace context (storage.tracing), None when tracing is off.
    trace: Any = None
    #: The API request the command came from (`X-Request-ID`), if any.
    request_id: str | None = None


class _TaskView(Mapping[UUID, Task]):
    """The project's tasks as the batch has left them so far."""

    def __init__(self, base: Mapping[UUID, Task], overlay: Mapping[UUID, Task | None]):
        self._base = base
        self._overlay = overlay

    def __getitem__(self, task_id: UUID) -> Task:
        task = self._overlay[task_id] if task_id in self._overlay else self._base[task_id]
        if task is None:
            raise KeyError(task_id)
        return task

    def __iter__(self) -> Iterator[UUID]:
        for tid in self._base:
            if tid not in self._overlay:
                yield tid
        for tid, task in self._overlay.items():
            if task is not None:
                yield tid

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Stage:
    """Decides a batch's commands against the state as changed by earlier ones."""

    def __init__(
        self,
        project: Project,
        tasks: dict[UUID, Task],
        sprints: Mapping[UUID, Sprint] | None = None,
        refs: Refs | None = None,
        ranks: RankIndex | None = None,
    ) -> None:
        self.batch = Batch(project=project)
        #: `tasks` in board order (None: built from `tasks`, for stages made in tests).
        self._ranks = ranks if ranks is not None else RankIndex(tasks.values())
        #: Comments and attachments the batch's commands name, read at its start.
        self.refs = refs or Refs()
        self._base = tasks
        self._overlay: dict[UUID, Task | None] = {}
        self.tasks = _TaskView(tasks, self._overlay)
        self.sprints: dict[UUID, Sprint] = dict(sprints or {})
        self._decided: dict[tuple[UUID, UUID, str], tuple[str, Reply]] = {}
        self._request_id: str | None = None  # of the command being decided
        self._max_rank: str | None = None
        self._created_at: dict[UUID, int] = {}
        self._updated_at: dict[UUID, int] = {}
        self.now = datetime.now(UTC)

    @property
    def project(self) -> Project:
        return self.batch.project

    def _current_tasks(self) -> list[Task]:
        return list(self.tasks.values())

    def task(self, task_id: UUID) -> Task:
        task = self.tasks.get(task_id)
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
        self._request_id = pending.request_id
        try:
            reply = self._decide(pending.command)
        except DomainError as error:
            return error
        if key is not None:
            self.batch.replies.append((key, reply))
            replay = dataclasses.replace(reply, replayed=True)
            self._decided[(key.org_id, key.user_id, key.key)] = (key.request_hash, replay)
        return reply

    def event(
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
            Event(
                project.id,
                project.version,
                type_,
                actor,
                task_id,
                body,
                self.now,
                self._request_id,
            )
        )

    def _decide(self, command: Command) -> Reply:
        from actors import (  # the rest of the dispatch
            stage_comments,
            stage_fields,
            stage_import,
            stage_ops,
            stage_sprints,
        )

        if self.batch.project_deleted:
            raise NotFound("project not found")
        match command:
            case CreateTask(actor_id=actor, fields=fields):
                return self._create(actor, fields)
            case UpdateTask(
                actor_id=actor,
                task_id=task_id,
                changes=changes,
                if_match=if_match,
                role=role,
                cause=cause,
            ):
                task = self.task(task_id)
                extra = {"caused_by": cause} if cause else None
                updated = self.change_task(
                    task, changes, actor, role=role, if_match=if_match, extra=extra
                )
                return Reply(200, updated.as_json())
            case DeleteTask(actor_id=actor, task_id=task_id, if_match=if_match):
                return self._delete(actor, task_id, if_match)
            case UpdateProject(actor_id=actor, changes=changes):
                return self._update_project(actor, changes)
            case DeleteProject(actor_id=actor):
                self.batch.project_deleted = True
                self.event(
                    EventType.PROJECT_DELETED, actor, None, {"project_id": str(self.project.id)}
                )
                return Reply(204, None)
        reply = (
            stage_ops.decide(self, command)
            or stage_sprints.decide(self, command)
            or stage_comments.decide(self, command)
            or stage_import.decide(self, command)
            or stage_fields.decide(self, command)
        )
        if reply is None:
            raise InvalidInput(f"unknown command {type(command).__name__}")
        return reply

    # -- task changes ----------------------------------------------------------------

    def _create(self, actor: UUID, fields: Mapping[str, Any]) -> Reply:
        project = self.project
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
            rank=rank_rules.after(self.max_rank()),
        )
        values = custom_fields.values_after(
            project.fields, {}, fields.get("custom_fields"), creating=True
        )
        task = dataclasses.replace(task, custom_fields=values)
        warning = self._check_references(None, task)
        self.batch.project = dataclasses.replace(project, task_seq=number)
        self.put(task)
        body = task.as_json()
        payload: dict[str, Any] = {"task": body}
        if warning:
            payload["wip_warning"] = warning
        self.event(EventType.TASK_CREATED, actor, task.id, payload)
        self._scope_events(actor, None, task)
        return Reply(201, body)

    def change_task(
        self,
        task: Task,
        changes: Mapping[str, Any],
        actor: UUID,
        *,
        role: str,
        if_match: int | None = None,
        extra: Mapping[str, Any] | None = None,
        previous: Task | None = None,
    ) -> Task:
        """Decide and record one task update (every rule applies); the new task.

        Nothing is recorded when a rule fails, so a caller may go on with others.
        `previous` is what the event reports as the old values when `task` already
        carries a change decided by the caller (a move's new rank).
        """
        if "custom_fields" in changes:
            values = custom_fields.values_after(
                self.project.fields, task.custom_fields, changes["custom_fields"], creating=False
            )
            changes = {**changes, "custom_fields": values}
        updated, diff = task_rules.changed_task(
            task, changes, if_match=if_match, statuses=self.project.statuses, now=self.now
        )
        if not diff:
            return task
        if "status" in diff:
            engine.check_transition(
                self.project.workflow, task.status, updated.status, self.facts(updated, role)
            )
        warning = self._check_references(task, updated)
        self.record_update(previous or task, updated, actor, extra=extra, wip_warning=warning)
        return updated

    def facts(self, task: Task, role: str) -> engine.TransitionFacts:
        """What the workflow's conditions ask of `task` (as it would be after the change)."""
        workflow = self.project.workflow
        needs_children = any(
            engine.Condition.SUBTASKS_DONE in t.conditions for t in workflow.transitions
        )
        children = hierarchy.children_of(task.id, self.tasks.values()) if needs_children else []
        return engine.TransitionFacts(
            role=role,
            assignee_set=task.assignee_id is not None,
            estimate_set=task.estimate is not None,
            subtasks_done=all(workflow.is_done(c.status) for c in children),
        )

    def _check_references(self, before: Task | None, after: Task) -> str | None:
        """Parent, labels, sprint and WIP limit of a new or changed task; the WIP
        warning when the project only warns."""
        if before is None or after.parent_id != before.parent_id:
            hierarchy.check_parent(after.id, after.parent_id, self.tasks)
        unknown = [name for name in after.labels if name not in self.project.labels]
        if unknown:
            raise InvalidInput.field("labels", f"no label {unknown[0]!r} in this project")
        if after.sprint_id is not None and (before is None or after.sprint_id != before.sprint_id):
            sprint = self.sprints.get(after.sprint_id)
            if sprint is None:
                raise InvalidInput.field("sprint_id", "must be a sprint of this project")
            accepts_tasks(sprint)
        if before is not None and after.status == before.status:
            return None
        workflow = self.project.workflow
        status = workflow.status(after.status)
        if status is None or status.wip_limit is None:
            return None
        count = sum(1 for t in self.tasks.values() if t.status == after.status and t.id != after.id)
        return engine.check_wip(
            workflow, after.status, count + 1, warn_only=self.project.wip_warn_only
        )

    def record_update(
        self,
        before: Task,
        after: Task,
        actor: UUID,
        *,
        extra: Mapping[str, Any] | None = None,
        wip_warning: str | None = None,
    ) -> None:
        """Stage `after` and emit its `task.updated` event: new and previous values."""
        self.put(after)
        new, old = after.as_json(), before.as_json()
        changed = [k for k in new if new[k] != old[k] and k not in ("updated_at", "version")]
        payload: dict[str, Any] = {
            "task_id": str(after.id),
            "version": after.version,
            "changes": {k: new[k] for k in changed},
            "from": {k: old[k] for k in changed},
            **(extra or {}),
        }
        if wip_warning:
            payload["wip_warning"] = wip_warning
        self.event(EventType.TASK_UPDATED, actor, after.id, payload)
        self._scope_events(actor, before, after)

    def _scope_events(self, actor: UUID, before: Task | None, after: Task | None) -> None:
        """Sprint scope changes while a sprint is active: a task joins or leaves it,
        or its estimate changes inside it."""
        old_sprint = before.sprint_id if before else None
        new_sprint = after.sprint_id if after else None
        task = after or before
        assert task is not None
        changes: list[tuple[UUID, str]] = []
        if old_sprint != new_sprint:
            if old_sprint is not None:
                changes.append((old_sprint, "removed"))
            if new_sprint is not None:
                changes.append((new_sprint, "added"))
        elif new_sprint is not None and before and after and before.estimate != after.estimate:
            changes.append((new_sprint, "estimate_changed"))
        for sprint_id, change in changes:
            sprint = self.sprints.get(sprint_id)
            if sprint is None or sprint.state is not SprintState.ACTIVE:
                continue
            payload = {
                "sprint_id": str(sprint_id),
                "task_id": str(task.id),
                "change": change,
                "estimate": task.estimate,
                "previous_estimate": before.estimate if before else None,
            }
            self.event(EventType.SPRINT_SCOPE_CHANGED, actor, task.id, payload)

    def put(self, task: Task) -> None:
        """Stage a created or changed task row."""
        self._overlay[task.id] = task
        if self._max_rank is not None and task.rank > self._max_rank:
            self._max_rank = task.rank
        # Positions in the batch's lists, so a rebalance of n cards stages in O(n).
        rows, at = (
            (self.batch.updated, self._updated_at)
            if task.id in self._base
            else (self.batch.created, self._created_at)
        )
        index = at.get(task.id)
        if index is None:
            at[task.id] = len(rows)
            rows.append(task)
        else:
            rows[index] = task

    def max_rank(self) -> str | None:
        if self._max_rank is None:
            self._max_rank = self._best(self._ranks.last(self._overlay), None, max)
        return self._max_rank

    def max_rank_except(self, moving: UUID) -> str | None:
        """The largest non-empty rank among the other cards, as staged."""
        found = self._ranks.last(self._hidden(moving))
        return self._best(found, lambda t: bool(t.rank) and t.id != moving, max)

    def rank_after(self, rank: str, moving: UUID) -> str | None:
        """The smallest non-empty rank above `rank` among the other cards, as staged."""
        hidden = self._hidden(moving)
        found = self._ranks.successor(rank, hidden)
        return self._best(found, lambda t: t.rank > rank and t.id != moving, min)

    def rank_before(self, rank: str, moving: UUID) -> str | None:
        """The largest non-empty rank below `rank` among the other cards, as staged."""
        hidden = self._hidden(moving)
        found = self._ranks.predecessor(rank, hidden)
        return self._best(found, lambda t: bool(t.rank) and t.rank < rank and t.id != moving, max)

    def column_last(self, status: str, moving: UUID) -> str | None:
        """The largest rank (possibly "") in the column among the other cards, as
        staged; None when the column has no other card."""
        found = self._ranks.last_in(status, self._hidden(moving))
        return self._best(found, lambda t: t.status == status and t.id != moving, max)

    def _hidden(self, moving: UUID) -> Container[UUID]:
        return self._overlay if moving in self._overlay else {*self._overlay, moving}

    def _best(
        self,
        committed: str | None,
        staged: Callable[[Task], bool] | None,
        pick: Callable[[Iterable[str]], str],
    ) -> str | None:
        """`pick` (min or max) of the index's answer and the ranks of the cards this
        batch created or changed (the index holds them as of the last commit)."""
        ranks = [] if committed is None else [committed]
        ranks += (
            t.rank
            for t in self._overlay.values()
            if t is not None and (t.rank if staged is None else staged(t))
        )
        return pick(ranks) if ranks else None

    def _delete(self, actor: UUID, task_id: UUID, if_match: int | None) -> Reply:
        task = self.task(task_id)
        task_rules.check_version(task, if_match)
        if hierarchy.children_of(task.id, self.tasks.values()):
            raise Conflict(f"task {task.key} has subtasks; delete or re-parent them first")
        self._overlay[task.id] = None
        if task.id in self._created_at:
            self.batch.created = [c for c in self.batch.created if c.id != task.id]
        else:
            self.batch.updated = [u for u in self.batch.updated if u.id != task.id]
            self.batch.deleted.append(task)
        self._created_at = {c.id: i for i, c in enumerate(self.batch.created)}
        self._updated_at = {u.id: i for i, u in enumerate(self.batch.updated)}
        self.batch.extras.purged_tasks.append(task.id)
        self.event(
            EventType.TASK_DELETED, actor, task.id, {"task_id": str(task.id), "key": task.key}
        )
        self._scope_events(actor, task, None)
        return Reply(204, None)

    # -- the project -------------------------------------------------------------------

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
            settings = project_rules.check_settings(changes["settings"])
            new = dataclasses.replace(new, settings=settings)
        if "time_zone" in changes:
            zone = project_rules.check_time_zone(changes["time_zone"])
            new = dataclasses.replace(new, time_zone=zone)
        if "team_ids" in changes:
            new = dataclasses.replace(new, team_ids=tuple(changes["team_ids"]))
            self.batch.teams_changed = True
        if new != project:
            self.batch.project = new
            self.batch.project_changed = True
            # The payload must carry the version this very event gives the project.
            self.event(EventType.PROJECT_UPDATED, actor, None, lambda p: {"project": p.as_json()})
        return Reply(200, self.batch.project.as_json())
