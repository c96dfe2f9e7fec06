"""Cycle time and velocity. Pure.

Cycle time of a task: from the first time it entered an in-progress status to
the last time it became done (it is done now). Tasks that went straight from
to-do to done have none and are only counted. Percentiles interpolate linearly
between the closest ranks (the "inclusive" method: p50 of 1, 2, 3, 4 is 2.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from storage.report_rows import SprintRow

PERCENTILES = (50, 85, 95)
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Cycle:
    task_id: UUID
    key: str
    started_at: datetime
    done_at: datetime

    @property
    def days(self) -> float:
        return (self.done_at - self.started_at) / DAY


def percentile(values: Sequence[float], p: float) -> float | None:
    """The `p`-th percentile (0 to 100) of `values`, interpolated; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def cycle_time_json(cycles: Sequence[Cycle], *, without_start: int) -> dict[str, Any]:
    days = [c.days for c in cycles]
    return {
        "count": len(cycles),
        "done_without_start": without_start,
        "percentiles_days": {f"p{p}": percentile(days, p) for p in PERCENTILES},
        "tasks": [
            {
                "task_id": str(c.task_id),
                "key": c.key,
                "started_at": c.started_at.isoformat(),
                "done_at": c.done_at.isoformat(),
                "cycle_time_days": c.days,
            }
            for c in sorted(cycles, key=lambda c: (c.done_at, c.key))
        ],
    }


def velocity_json(sprints: Sequence[SprintRow]) -> dict[str, Any]:
    """Committed against completed for completed sprints, oldest first."""
    ordered = sorted(
        sprints,
        key=lambda s: (s.completed_at.timestamp() if s.completed_at else float("inf"), s.name),
    )
    rows = [
        {
            "sprint_id": str(s.sprint_id),
            "name": s.name,
            "started_at": s.started_at.isoformat() if s.started_at else None,
            "completed_at": s.completed_at.isoformat() if s.completed_at else None,
            "committed_count": s.committed_count or 0,
            "committed_estimate": float(s.committed_estimate or 0),
            "completed_count": s.completed_count or 0,
            "completed_estimate": float(s.completed_estimate or 0),
        }
        for s in ordered
    ]
    completed = [float(s.completed_estimate or 0) for s in ordered]
    return {
        "sprints": rows,
        "average_completed_estimate": sum(completed) / len(completed) if completed else None,
    }
