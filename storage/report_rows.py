"""The rows analytics are kept in, shared by the fold, the stores and the reports.

Estimates are `Decimal`: a float estimate becomes the decimal its shortest repr
spells (`0.1` → `Decimal("0.1")`), so adding and removing it again leaves exactly
nothing behind, in Python and in PostgreSQL's NUMERIC alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple
from uuid import UUID

ZERO = Decimal(0)

#: Status categories (as `domain.workflow.Category` values).
TODO, IN_PROGRESS, DONE = "todo", "in_progress", "done"


def to_decimal(value: object) -> Decimal | None:
    """An estimate from an event payload (a JSON number or null) as a Decimal."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(repr(float(value))) if isinstance(value, float) else Decimal(value)
    raise ValueError(f"not an estimate: {value!r}")


@dataclass(frozen=True, slots=True)
class Interval:
    """A span of a task's life with one status, category, estimate and sprint.

    Open (the task as it is now) while `end_at` is None. Active at the end of a
    day whose next midnight is `t` when `start_at < t <= end_at`.
    """

    task_id: UUID
    start_version: int
    start_at: datetime
    status: str
    category: str
    estimate: Decimal | None
    sprint_id: UUID | None
    end_version: int | None = None
    end_at: datetime | None = None

    def active_at(self, instant: datetime) -> bool:
        """Part of the state left by every event stamped before `instant`."""
        return self.start_at < instant and (self.end_at is None or self.end_at >= instant)


@dataclass(frozen=True, slots=True)
class FlowRow:
    """A live task's milestones: created, first in progress, last done (if done now)."""

    task_id: UUID
    key: str
    created_at: datetime
    started_at: datetime | None = None
    done_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SprintRow:
    """A sprint as reports need it: plan, commitment at start, outcome at completion."""

    sprint_id: UUID
    name: str
    state: str
    start_date: date | None = None
    end_date: date | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    committed_count: int | None = None
    committed_estimate: Decimal | None = None
    completed_count: int | None = None
    completed_estimate: Decimal | None = None
    remaining_count: int | None = None
    remaining_estimate: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ScopeChange:
    """One task joining or leaving an active sprint, or its estimate changing there."""

    version: int
    sprint_id: UUID
    task_id: UUID
    at: datetime
    change: str  # added | removed | estimate_changed
    count_delta: int
    estimate_delta: Decimal


@dataclass(slots=True)
class Tally:
    """A change of a task count and an estimate sum."""

    count: int = 0
    estimate: Decimal = ZERO

    def add(self, count: int, estimate: Decimal | None) -> None:
        self.count += count
        if estimate is not None:
            self.estimate += estimate * count


class DayChange(NamedTuple):
    """Stored change of one status on one day (`day` None: the sum before a range).

    A named tuple, not a dataclass: a year of a project is thousands of these per
    cumulative-flow request, and a tuple is several times cheaper to make."""

    day: date | None
    status: str
    category: str
    #: The change of the number of tasks (`count` would shadow `tuple.count`).
    tasks: int
    estimate: Decimal


DayKey = tuple[date, str, str]  # (local day, status, category)


@dataclass(slots=True)
class Effects:
    """What folding a run of events changed, for the store to write.

    `opened` holds intervals begun in the run (closed again if the run ended
    them); `closed` the ends of intervals begun before it, keyed like `opened`
    by `(task_id, start_version)`. A None flow means the task was deleted.
    """

    opened: dict[tuple[UUID, int], Interval] = field(default_factory=dict)
    closed: dict[tuple[UUID, int], tuple[int, datetime]] = field(default_factory=dict)
    days: dict[DayKey, Tally] = field(default_factory=dict)
    flows: dict[UUID, FlowRow | None] = field(default_factory=dict)
    sprints: dict[UUID, SprintRow] = field(default_factory=dict)
    scope: list[ScopeChange] = field(default_factory=list)
