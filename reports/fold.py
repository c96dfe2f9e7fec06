"""The fold: committed events → changes of the analytics tables. Pure, no I/O.

`Fold` starts from what the tables say about the tasks and sprints the events
name (the consumer loads those; a rebuild starts empty at version 1) and applies
events in version order. Every change to a task's status, category, estimate or
sprint closes its open interval and opens a new one; each interval counts +1 (and
+its estimate) for its status on the local day it starts and -1 on the day it
ends, so the daily tallies are always exactly the intervals, bucketed. The
incremental consumer and `taskhive reports rebuild` run this same code, which is
why they agree.

Status categories are those of the workflow in force when the event happened.
A project's first workflow comes from a template, whose status ids always mean
the same category, so `initial_categories` knows it even after later edits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.events import EventType
from domain.workflow_templates import LEGACY_STATUSES, Template, from_status_list, template
from reports.days import local_day
from storage.outbox import StoredEvent
from storage.report_rows import (
    DONE,
    IN_PROGRESS,
    TODO,
    ZERO,
    DayKey,
    Effects,
    FlowRow,
    Interval,
    ScopeChange,
    SprintRow,
    Tally,
    to_decimal,
)


def _template_categories() -> dict[str, str]:
    out = {s.id: s.category.value for s in from_status_list(LEGACY_STATUSES).statuses}
    for name in Template:
        out.update({s.id: s.category.value for s in template(name).statuses})
    return out


#: Status id → category in every workflow a project can start with.
TEMPLATE_CATEGORIES: Mapping[str, str] = _template_categories()


def workflow_categories(workflow: Mapping[str, Any] | None) -> dict[str, str]:
    """Status id → category of a workflow as stored (`Workflow.as_json`)."""
    statuses = (workflow or {}).get("statuses") or []
    return {str(s["id"]): str(s["category"]) for s in statuses}


def initial_categories(current_workflow: Mapping[str, Any] | None) -> dict[str, str]:
    """The categories before the project's first workflow edit: the template's for
    template statuses, the current workflow's for any other."""
    return {**workflow_categories(current_workflow), **TEMPLATE_CATEGORIES}


#: Task fields whose change moves a task between report intervals.
REPORTED_FIELDS = frozenset({"status", "estimate", "sprint_id"})

_ALWAYS_FOLDED = frozenset(
    {
        EventType.TASK_CREATED,
        EventType.TASK_DELETED,
        EventType.WORKFLOW_UPDATED,
        # A new time zone recounts the day tallies (`reports.consumer`).
        EventType.PROJECT_UPDATED,
        EventType.SPRINT_CREATED,
        EventType.SPRINT_UPDATED,
        EventType.SPRINT_STARTED,
        EventType.SPRINT_COMPLETED,
        EventType.SPRINT_SCOPE_CHANGED,
    }
)


def matters(e: StoredEvent) -> bool:
    """Whether folding `e` can change a report. Most writes (titles, comments,
    reactions, ranks) cannot, and the consumer then skips the project's state."""
    if e.type in _ALWAYS_FOLDED:
        return True
    if e.type == EventType.TASK_UPDATED:
        changes = e.payload.get("changes") or {}
        return not REPORTED_FIELDS.isdisjoint(changes)
    return False


def needed_tasks(events: Iterable[StoredEvent]) -> set[UUID] | None:
    """Tasks whose current state folding `events` reads; None means all of them
    (a workflow edit may re-categorise any task)."""
    ids: set[UUID] = set()
    for e in events:
        if e.type == EventType.WORKFLOW_UPDATED:
            return None
        if e.task_id is not None:
            ids.add(e.task_id)
        for name in ("task_ids", "completed_task_ids", "moved_task_ids"):
            ids.update(UUID(x) for x in e.payload.get(name) or ())
    return ids


def _date(value: object) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


def _instant(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


class Fold:
    """Applies events to a project's analytics state, collecting `effects`."""

    def __init__(
        self,
        *,
        zone: ZoneInfo,
        categories: Mapping[str, str],
        tasks: Mapping[UUID, Interval] | None = None,
        flows: Mapping[UUID, FlowRow] | None = None,
        sprints: Mapping[UUID, SprintRow] | None = None,
    ) -> None:
        self.zone = zone
        self.categories = dict(categories)
        #: Each known task's open interval.
        self.tasks: dict[UUID, Interval] = dict(tasks or {})
        self.flows: dict[UUID, FlowRow] = dict(flows or {})
        self.sprints: dict[UUID, SprintRow] = dict(sprints or {})
        self.effects = Effects()

    def category(self, status: str) -> str:
        return self.categories.get(status) or TEMPLATE_CATEGORIES.get(status) or TODO

    def apply_all(self, events: Iterable[StoredEvent]) -> Effects:
        for event in events:
            self.apply(event)
        return self.effects

    def apply(self, e: StoredEvent) -> None:
        """Fold one event. Event types reports do not need are skipped."""
        match e.type:
            case EventType.TASK_CREATED:
                self._created(e)
            case EventType.TASK_UPDATED:
                self._updated(e)
            case EventType.TASK_DELETED:
                if e.task_id in self.tasks:
                    self._close(e.task_id, e.version, e.created_at)
                self._set_flow(e.task_id, None)
            case EventType.WORKFLOW_UPDATED:
                self._workflow(e)
            case EventType.SPRINT_CREATED | EventType.SPRINT_UPDATED:
                self._sprint(e.payload["sprint"])
            case EventType.SPRINT_STARTED:
                self._started(e)
            case EventType.SPRINT_COMPLETED:
                self._completed(e)
            case EventType.SPRINT_SCOPE_CHANGED:
                self._scope(e)

    # -- tasks ---------------------------------------------------------------------

    def _created(self, e: StoredEvent) -> None:
        task = e.payload["task"]
        task_id = UUID(task["id"])
        status = str(task["status"])
        sprint = task.get("sprint_id")
        if task_id in self.tasks:  # a second create of one id cannot happen; stay exact
            self._close(task_id, e.version, e.created_at)
        self._open(
            Interval(
                task_id=task_id,
                start_version=e.version,
                start_at=e.created_at,
                status=status,
                category=self.category(status),
                estimate=to_decimal(task.get("estimate")),
                sprint_id=UUID(sprint) if sprint else None,
            )
        )
        flow = FlowRow(task_id, str(task["key"]), e.created_at)
        self._set_flow(task_id, _moved(flow, TODO, self.category(status), e.created_at))

    def _updated(self, e: StoredEvent) -> None:
        if e.task_id is None or e.task_id not in self.tasks:
            return
        changes: Mapping[str, Any] = e.payload.get("changes") or {}
        if REPORTED_FIELDS.isdisjoint(changes):
            return
        current = self.tasks[e.task_id]
        status = str(changes.get("status", current.status))
        estimate = to_decimal(changes["estimate"]) if "estimate" in changes else current.estimate
        sprint = current.sprint_id
        if "sprint_id" in changes:
            sprint = UUID(changes["sprint_id"]) if changes["sprint_id"] else None
        self._change(current, e, status, self.category(status), estimate, sprint)

    def _change(
        self,
        current: Interval,
        e: StoredEvent,
        status: str,
        category: str,
        estimate: Decimal | None,
        sprint: UUID | None,
    ) -> None:
        if (status, category, estimate, sprint) == (
            current.status,
            current.category,
            current.estimate,
            current.sprint_id,
        ):
            return
        self._close(current.task_id, e.version, e.created_at)
        self._open(
            dataclasses.replace(
                current,
                start_version=e.version,
                start_at=e.created_at,
                status=status,
                category=category,
                estimate=estimate,
                sprint_id=sprint,
            )
        )
        flow = self.flows.get(current.task_id)
        if flow is not None and category != current.category:
            self._set_flow(current.task_id, _moved(flow, current.category, category, e.created_at))

    def _workflow(self, e: StoredEvent) -> None:
        """Tasks of a status whose category changed change category now."""
        self.categories = workflow_categories(e.payload.get("workflow"))
        for current in sorted(self.tasks.values(), key=lambda iv: iv.task_id):
            if current.status in self.categories:
                category = self.categories[current.status]
                if category != current.category:
                    self._change(
                        current, e, current.status, category, current.estimate, current.sprint_id
                    )

    def _open(self, interval: Interval) -> None:
        self.tasks[interval.task_id] = interval
        self.effects.opened[(interval.task_id, interval.start_version)] = interval
        self._tally(interval, interval.start_at, +1)

    def _close(self, task_id: UUID, version: int, at: datetime) -> None:
        interval = self.tasks.pop(task_id)
        key = (task_id, interval.start_version)
        if key in self.effects.opened:
            self.effects.opened[key] = dataclasses.replace(interval, end_version=version, end_at=at)
        else:
            self.effects.closed[key] = (version, at)
        self._tally(interval, at, -1)

    def _tally(self, interval: Interval, at: datetime, sign: int) -> None:
        key: DayKey = (local_day(at, self.zone), interval.status, interval.category)
        self.effects.days.setdefault(key, Tally()).add(sign, interval.estimate)

    def _set_flow(self, task_id: UUID | None, flow: FlowRow | None) -> None:
        if task_id is None:
            return
        if flow is None:
            self.flows.pop(task_id, None)
        else:
            self.flows[task_id] = flow
        self.effects.flows[task_id] = flow

    # -- sprints -------------------------------------------------------------------

    def _sprint(self, raw: Mapping[str, Any], **extra: Any) -> SprintRow:
        sprint_id = UUID(raw["id"])
        before = self.sprints.get(sprint_id) or SprintRow(sprint_id, "", "planned")
        row = dataclasses.replace(
            before,
            name=str(raw["name"]),
            state=str(raw["state"]),
            start_date=_date(raw.get("start_date")),
            end_date=_date(raw.get("end_date")),
            started_at=_instant(raw.get("started_at")),
            completed_at=_instant(raw.get("completed_at")),
            **extra,
        )
        self.sprints[sprint_id] = row
        self.effects.sprints[sprint_id] = row
        return row

    def _sum(self, ids: Iterable[str]) -> tuple[int, Decimal]:
        count, total = 0, ZERO
        for raw in ids:
            count += 1
            interval = self.tasks.get(UUID(raw))
            if interval is not None and interval.estimate is not None:
                total += interval.estimate
        return count, total

    def _started(self, e: StoredEvent) -> None:
        count, total = self._sum(e.payload.get("task_ids") or ())
        self._sprint(e.payload["sprint"], committed_count=count, committed_estimate=total)

    def _completed(self, e: StoredEvent) -> None:
        done, done_total = self._sum(e.payload.get("completed_task_ids") or ())
        left, left_total = self._sum(e.payload.get("moved_task_ids") or ())
        self._sprint(
            e.payload["sprint"],
            completed_count=done,
            completed_estimate=done_total,
            remaining_count=left,
            remaining_estimate=left_total,
        )

    def _scope(self, e: StoredEvent) -> None:
        p = e.payload
        change = str(p["change"])
        estimate = to_decimal(p.get("estimate")) or ZERO
        previous = to_decimal(p.get("previous_estimate")) or ZERO
        if change == "added":
            count, delta = 1, estimate
        elif change == "removed":
            # What left the sprint is the task as it was in it.
            count, delta = -1, previous
            delta = -delta
        else:
            count, delta = 0, estimate - previous
        self.effects.scope.append(
            ScopeChange(
                version=e.version,
                sprint_id=UUID(p["sprint_id"]),
                task_id=UUID(p["task_id"]),
                at=e.created_at,
                change=change,
                count_delta=count,
                estimate_delta=delta,
            )
        )


def _moved(flow: FlowRow, old: str, new: str, at: datetime) -> FlowRow:
    """A task's milestones after its category went from `old` to `new` at `at`."""
    if new == IN_PROGRESS and flow.started_at is None:
        flow = dataclasses.replace(flow, started_at=at)
    if new == DONE and old != DONE:
        return dataclasses.replace(flow, done_at=at)
    if new != DONE and flow.done_at is not None:
        return dataclasses.replace(flow, done_at=None)
    return flow


def interval_days(intervals: Iterable[Interval], zone: ZoneInfo) -> dict[DayKey, Tally]:
    """The daily tallies of a set of intervals in `zone` (a re-count after the
    project's time zone changed): the same rule `Fold` applies as it goes."""
    days: dict[DayKey, Tally] = {}
    for iv in intervals:
        days.setdefault((local_day(iv.start_at, zone), iv.status, iv.category), Tally()).add(
            1, iv.estimate
        )
        if iv.end_at is not None:
            days.setdefault((local_day(iv.end_at, zone), iv.status, iv.category), Tally()).add(
                -1, iv.estimate
            )
    return days
