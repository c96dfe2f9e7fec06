"""Sprint burndown and burnup from a sprint's task intervals. Pure.

The series runs over the project's local days from the day the sprint started to
the later of its planned end date and the day it completed (or today, while it
runs over). Each day's values are the sprint's tasks at the end of that day:
its scope (tasks in the sprint), done (of those, in a done-category status) and
remaining (scope minus done), as counts and estimate sums. The day a sprint
completes shows the outcome recorded at completion; later days and days still
to come have no values. The ideal line falls straight from the estimate
committed at the start to zero on the planned last day. Scope changes (a task
joining or leaving the running sprint, or re-estimated in it) are listed on the
day they happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.errors import Conflict
from reports.days import day_end, each_day, local_day
from storage.report_rows import DONE, ZERO, Interval, ScopeChange, SprintRow


@dataclass(frozen=True, slots=True)
class SprintDay:
    day: date
    scope_count: int | None
    scope_estimate: Decimal | None
    done_count: int | None
    done_estimate: Decimal | None
    ideal_estimate: Decimal | None
    changes: tuple[ScopeChange, ...]

    @property
    def remaining_count(self) -> int | None:
        if self.scope_count is None or self.done_count is None:
            return None
        return self.scope_count - self.done_count

    @property
    def remaining_estimate(self) -> Decimal | None:
        if self.scope_estimate is None or self.done_estimate is None:
            return None
        return self.scope_estimate - self.done_estimate


#: (scope count, scope estimate, done count, done estimate) of a sprint at an instant.
Tallies = tuple[int, Decimal, int, Decimal]


class _Sweep:
    """The sprint's tallies at increasing instants, in one pass over its intervals:
    an interval counts at `t` once it started before `t`, until it ended before `t`
    (`Interval.active_at`)."""

    def __init__(self, intervals: Iterable[Interval], sprint_id: UUID) -> None:
        mine = [iv for iv in intervals if iv.sprint_id == sprint_id]
        self._starts = sorted(mine, key=lambda iv: iv.start_at)
        self._ends = sorted((iv for iv in mine if iv.end_at is not None), key=_end)
        self._i = self._j = 0
        self.scope, self.scope_est, self.done, self.done_est = 0, ZERO, 0, ZERO

    def _count(self, iv: Interval, sign: int) -> None:
        estimate = (iv.estimate or ZERO) * sign
        self.scope, self.scope_est = self.scope + sign, self.scope_est + estimate
        if iv.category == DONE:
            self.done, self.done_est = self.done + sign, self.done_est + estimate

    def at(self, instant: datetime) -> Tallies:
        """The tallies after every event stamped before `instant` (not decreasing)."""
        while self._i < len(self._starts) and self._starts[self._i].start_at < instant:
            self._count(self._starts[self._i], +1)
            self._i += 1
        while self._j < len(self._ends) and _end(self._ends[self._j]) < instant:
            self._count(self._ends[self._j], -1)
            self._j += 1
        return self.scope, self.scope_est, self.done, self.done_est


def _end(iv: Interval) -> datetime:
    assert iv.end_at is not None
    return iv.end_at


@dataclass(frozen=True, slots=True)
class _Plan:
    first: date
    last: date
    ideal_last: date
    today: date
    closed_on: date | None


def _plan(sprint: SprintRow, zone: ZoneInfo, now: datetime) -> _Plan:
    if sprint.started_at is None:
        raise Conflict(f"sprint {sprint.name!r} has not started, so it has no burndown yet")
    first = local_day(sprint.started_at, zone)
    planned_last = sprint.end_date if sprint.end_date and sprint.end_date >= first else None
    today = local_day(now, zone)
    closed_on = local_day(sprint.completed_at, zone) if sprint.completed_at else None
    last = max(d for d in (first, planned_last, closed_on or today) if d is not None)
    return _Plan(first, last, planned_last or last, today, closed_on)


def _instant(plan: _Plan, day: date, zone: ZoneInfo, now: datetime) -> datetime | None:
    """When the sprint's tasks are counted for `day`; None when the day shows the
    outcome recorded at completion, or nothing yet."""
    if plan.closed_on is not None and day >= plan.closed_on:
        return None
    if plan.closed_on is None and day > plan.today:
        return None
    return min(day_end(day, zone), _after(now))


def tally_instants(*, sprint: SprintRow, zone: ZoneInfo, now: datetime) -> list[datetime]:
    """The instants `sprint_days` asks tallies for, increasing (a store can count
    them in one query)."""
    plan = _plan(sprint, zone, now)
    found = (_instant(plan, day, zone, now) for day in each_day(plan.first, plan.last))
    return [at for at in found if at is not None]


def sprint_days(
    *,
    sprint: SprintRow,
    scope: Sequence[ScopeChange],
    zone: ZoneInfo,
    now: datetime,
    intervals: Sequence[Interval] | None = None,
    tallies: Mapping[datetime, Tallies] | None = None,
) -> list[SprintDay]:
    """The day-by-day series of a started sprint (see the module docstring), from
    the sprint's `intervals`, or from `tallies` already counted at `tally_instants`."""
    plan = _plan(sprint, zone, now)
    committed = sprint.committed_estimate or ZERO
    span = (plan.ideal_last - plan.first).days
    count = _Sweep(intervals or (), sprint.sprint_id).at if tallies is None else tallies.__getitem__
    out = []
    for day in each_day(plan.first, plan.last):
        if day <= plan.ideal_last:
            ideal = committed * (plan.ideal_last - day).days / span if span else ZERO
        else:
            ideal = ZERO
        changes = tuple(c for c in scope if local_day(c.at, zone) == day)
        values: tuple[Any, Any, Any, Any]
        at = _instant(plan, day, zone, now)
        if at is not None:
            values = count(at)
        elif day == plan.closed_on:
            values = _at_completion(sprint)
        else:
            values = (None, None, None, None)
        scope_count, scope_estimate, done_count, done_estimate = values
        out.append(
            SprintDay(day, scope_count, scope_estimate, done_count, done_estimate, ideal, changes)
        )
    return out


def _after(now: datetime) -> datetime:
    # Today's values are the state now: every event stamped up to now included.
    return now + timedelta(microseconds=1)


def _at_completion(sprint: SprintRow) -> tuple[int, Decimal, int, Decimal]:
    done = sprint.completed_count or 0
    done_est = sprint.completed_estimate or ZERO
    left = sprint.remaining_count or 0
    left_est = sprint.remaining_estimate or ZERO
    return done + left, done_est + left_est, done, done_est


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _change_json(c: ScopeChange) -> dict[str, Any]:
    return {
        "at": c.at.isoformat(),
        "task_id": str(c.task_id),
        "change": c.change,
        "count_delta": c.count_delta,
        "estimate_delta": float(c.estimate_delta),
    }


def burndown_json(sprint: SprintRow, days: Sequence[SprintDay]) -> dict[str, Any]:
    return {
        "sprint": _sprint_json(sprint),
        "days": [
            {
                "date": d.day.isoformat(),
                "remaining_estimate": _num(d.remaining_estimate),
                "remaining_count": d.remaining_count,
                "ideal_estimate": _num(d.ideal_estimate),
                "scope_changed": bool(d.changes),
                "scope_changes": [_change_json(c) for c in d.changes],
            }
            for d in days
        ],
    }


def burnup_json(sprint: SprintRow, days: Sequence[SprintDay]) -> dict[str, Any]:
    return {
        "sprint": _sprint_json(sprint),
        "days": [
            {
                "date": d.day.isoformat(),
                "scope_estimate": _num(d.scope_estimate),
                "scope_count": d.scope_count,
                "done_estimate": _num(d.done_estimate),
                "done_count": d.done_count,
                "scope_changed": bool(d.changes),
                "scope_changes": [_change_json(c) for c in d.changes],
            }
            for d in days
        ],
    }


def _sprint_json(s: SprintRow) -> dict[str, Any]:
    def iso(v: date | datetime | None) -> str | None:
        return None if v is None else v.isoformat()

    return {
        "id": str(s.sprint_id),
        "name": s.name,
        "state": s.state,
        "start_date": iso(s.start_date),
        "end_date": iso(s.end_date),
        "started_at": iso(s.started_at),
        "completed_at": iso(s.completed_at),
        "committed_count": s.committed_count,
        "committed_estimate": _num(s.committed_estimate),
    }
