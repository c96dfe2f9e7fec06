"""Cumulative flow and throughput. Pure.

Cumulative flow: for each local day in a range, how many tasks (and what
estimate) were in each status at the end of the day, from the stored daily
changes (`report_status_days`): the value on day D is everything up to D summed.
Throughput: tasks whose latest completion fell in each local week (Monday first).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from reports.days import each_day, local_day, week_of
from storage.report_rows import ZERO, DayChange

CATEGORIES = ("todo", "in_progress", "done")


@dataclass(slots=True)
class FlowDay:
    day: date
    counts: dict[str, int] = field(default_factory=dict)
    estimates: dict[str, Decimal] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)


def cumulative_flow(
    changes: Iterable[DayChange], *, first: date, last: date, order: Sequence[str]
) -> tuple[list[str], list[FlowDay]]:
    """The statuses shown (the workflow's `order`, then any other that held tasks
    in the range) and one `FlowDay` per day from `first` to `last`."""
    by_day: dict[date | None, list[DayChange]] = {}
    for c in changes:
        # Days before the range count towards where it starts.
        by_day.setdefault(None if c.day is None or c.day < first else c.day, []).append(c)
    statuses = list(order)
    counts = dict.fromkeys(statuses, 0)
    estimates = dict.fromkeys(statuses, ZERO)
    categories = dict.fromkeys(CATEGORIES, 0)
    held: set[str] = set()

    def add(items: Iterable[DayChange]) -> None:
        for c in items:
            if c.status not in counts:
                statuses.append(c.status)
                counts[c.status], estimates[c.status] = 0, ZERO
            counts[c.status] += c.tasks
            estimates[c.status] += c.estimate
            categories[c.category] = categories.get(c.category, 0) + c.tasks

    add(by_day.pop(None, []))
    days: list[FlowDay] = []
    for day in each_day(first, last):
        add(by_day.get(day, ()))
        held.update(s for s, n in counts.items() if n)
        days.append(FlowDay(day, dict(counts), dict(estimates), dict(categories)))
    # Statuses outside the workflow are shown only if they held tasks in the range.
    shown = list(order) + sorted(s for s in statuses[len(order) :] if s in held)
    for flow in days:
        flow.counts = {s: flow.counts[s] for s in shown}
        flow.estimates = {s: flow.estimates[s] for s in shown}
    return shown, days


def flow_json(statuses: Sequence[str], days: Sequence[FlowDay]) -> dict[str, Any]:
    return {
        "statuses": list(statuses),
        "days": [
            {
                "date": d.day.isoformat(),
                "counts": d.counts,
                "estimates": {k: float(v) for k, v in d.estimates.items()},
                "categories": d.categories,
            }
            for d in days
        ],
    }


def throughput(
    done_at: Iterable[datetime], *, zone: ZoneInfo, first: date, last: date
) -> list[tuple[date, int]]:
    """(Monday, tasks completed that week) for every week from `first`'s to `last`'s."""
    weeks = {w: 0 for w in each_day(week_of(first), week_of(last)) if w.weekday() == 0}
    for at in done_at:
        day = local_day(at, zone)
        if first <= day <= last:
            weeks[week_of(day)] += 1
    return sorted(weeks.items())
