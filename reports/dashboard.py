"""The caller's dashboard, put together from live rows. Pure.

"Open" means not in a done-category status of the task's own project workflow;
"overdue" and "due this week" use each project's local today (weeks end on
Sunday).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from reports.fold import workflow_categories
from storage.report_dashboard import ActiveSprint, ProjectInfo, TaskLine
from storage.report_rows import DONE, IN_PROGRESS, TODO

PRIORITIES = ("urgent", "high", "medium", "low", "none")
#: Tasks listed per section (counts are always complete).
LIST_LIMIT = 50


def _task_json(task: TaskLine, projects: Mapping[UUID, ProjectInfo]) -> dict[str, Any]:
    project = projects.get(task.project_id)
    return {
        "id": str(task.id),
        "key": task.key,
        "title": task.title,
        "project_id": str(task.project_id),
        "project_name": project.name if project else None,
        "status": task.status,
        "priority": task.priority,
        "due_date": task.due_date.isoformat() if task.due_date else None,
        "updated_at": task.updated_at.isoformat(),
    }


def _category(categories: Mapping[UUID, Mapping[str, str]], task: TaskLine) -> str:
    return categories.get(task.project_id, {}).get(task.status, TODO)


def dashboard(
    *,
    projects: Sequence[ProjectInfo],
    today: Mapping[UUID, date],
    mine: Sequence[TaskLine],
    truncated: bool,
    recent: Sequence[TaskLine],
    counts: Mapping[UUID, Mapping[str, int]],
    sprints: Sequence[ActiveSprint],
) -> dict[str, Any]:
    by_id = {p.id: p for p in projects}
    categories = {p.id: workflow_categories(p.workflow) for p in projects}
    open_tasks = [t for t in mine if _category(categories, t) != DONE]
    rank = {p: i for i, p in enumerate(PRIORITIES)}
    open_tasks.sort(key=lambda t: (rank.get(t.priority, len(rank)), t.due_date or date.max, t.key))
    overdue, this_week = [], []
    for task in open_tasks:
        if task.due_date is None:
            continue
        day = today[task.project_id]
        sunday = day + timedelta(days=6 - day.weekday())
        if task.due_date < day:
            overdue.append(task)
        elif task.due_date <= sunday:
            this_week.append(task)
    overdue.sort(key=lambda t: (t.due_date, t.key))
    this_week.sort(key=lambda t: (t.due_date, t.key))
    return {
        "my_open_tasks": {
            "total": len(open_tasks),
            "truncated": truncated,
            "by_priority": {p: sum(1 for t in open_tasks if t.priority == p) for p in PRIORITIES},
            "tasks": [_task_json(t, by_id) for t in open_tasks[:LIST_LIMIT]],
        },
        "overdue": {
            "total": len(overdue),
            "tasks": [_task_json(t, by_id) for t in overdue[:LIST_LIMIT]],
        },
        "due_this_week": {
            "total": len(this_week),
            "tasks": [_task_json(t, by_id) for t in this_week[:LIST_LIMIT]],
        },
        "recently_updated": [_task_json(t, by_id) for t in recent],
        "projects": [_health(p, categories[p.id], counts.get(p.id, {}), sprints) for p in projects],
    }


def _health(
    project: ProjectInfo,
    categories: Mapping[str, str],
    counts: Mapping[str, int],
    sprints: Sequence[ActiveSprint],
) -> dict[str, Any]:
    tally = dict.fromkeys((TODO, IN_PROGRESS, DONE), 0)
    for status, n in counts.items():
        tally[categories.get(status, TODO)] += n
    return {
        "id": str(project.id),
        "key": project.key,
        "name": project.name,
        "open": tally[TODO],
        "in_progress": tally[IN_PROGRESS],
        "done": tally[DONE],
        "active_sprints": [
            _sprint_progress(s, categories) for s in sprints if s.project_id == project.id
        ],
    }


def _sprint_progress(sprint: ActiveSprint, categories: Mapping[str, str]) -> dict[str, Any]:
    total = done = 0
    estimate = done_estimate = Decimal(0)
    for status, (n, est) in sprint.statuses.items():
        total, estimate = total + n, estimate + est
        if categories.get(status) == DONE:
            done, done_estimate = done + n, done_estimate + est
    return {
        "id": str(sprint.id),
        "name": sprint.name,
        "end_date": sprint.end_date.isoformat() if sprint.end_date else None,
        "tasks": total,
        "done": done,
        "estimate": float(estimate),
        "done_estimate": float(done_estimate),
        "progress": float(done_estimate / estimate)
        if estimate
        else (done / total if total else 0.0),
    }
