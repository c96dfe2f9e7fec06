"""Resolved filters: the few primitive conditions every backend implements.

`resolve` turns the parsed tree, with the facts of the caller's organisation,
into these. Each backend (the Tantivy query builder in `search/`, the SQL builder
in `storage/task_filter_sql.py`, `evaluate.matches` on task JSON) translates the
same small set, which is what keeps the three in agreement.

Fields named here:

| field      | values                               |
|------------|--------------------------------------|
| `assignee`, `reporter`, `project`, `sprint` | ids as strings |
| `status`   | status ids                           |
| `category` | `todo`, `in_progress`, `done`        |
| `priority` | priority names                       |
| `label`    | label names (case-sensitive, as on the task) |
| `key`      | task keys, upper case                |

Custom fields are named by id (`field`); a task's value is `custom_fields[id]`
in its JSON. `CustomIs` compares a value as text (an option id, a user id,
`true`/`false`; any element of a multi-select's list), `CustomRange` numbers or
ISO dates, `CustomWords` the words of a text value, `CustomContains` a piece of
a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class Missing(StrEnum):
    """Optional task fields a condition may ask to be unset."""

    ASSIGNEE = "assignee"
    SPRINT = "sprint"
    DUE = "due"


class Has(StrEnum):
    """Things a task may have (`has:` in the language)."""

    ATTACHMENTS = "attachments"
    COMMENTS = "comments"
    DUE = "due"
    LABELS = "labels"
    SPRINT = "sprint"
    ESTIMATE = "estimate"
    ASSIGNEE = "assignee"


@dataclass(frozen=True, slots=True)
class Match:
    """The task's `field` is one of `values` (for `label`: one of its labels is)."""

    field: str
    values: frozenset[str]


@dataclass(frozen=True, slots=True)
class IsMissing:
    field: Missing


@dataclass(frozen=True, slots=True)
class HasThing:
    thing: Has


@dataclass(frozen=True, slots=True)
class TimeRange:
    """`created`/`updated` within `[start, end)`; None leaves a side open."""

    field: str
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True, slots=True)
class DueRange:
    """The due date within `[start, end)` (tasks without one never match)."""

    start: date | None
    end: date | None


@dataclass(frozen=True, slots=True)
class PriorityRange:
    """Priority rank (none 0 … urgent 4) within `[low, high]`."""

    low: int
    high: int


@dataclass(frozen=True, slots=True)
class Words:
    """Free text: every word must occur in the title, description, key or comments
    (compared by stem); `phrase` also asks for them adjacent and in order."""

    words: tuple[str, ...]
    phrase: bool = False
    #: Ids of text custom fields whose values count as text too (each like a comment).
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CustomIs:
    """The custom field's value (or an element of its list), as text, is one of `values`."""

    field: str
    values: frozenset[str]


@dataclass(frozen=True, slots=True)
class CustomRange:
    """The custom field's value within `low`..`high` (None leaves a side open):
    floats for number fields, ISO dates (`"2026-12-31"`) for date fields."""

    field: str
    low: float | str | None
    high: float | str | None
    include_low: bool = True
    include_high: bool = True


@dataclass(frozen=True, slots=True)
class CustomWords:
    """Every word occurs in the custom field's value (compared by stem)."""

    field: str
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CustomContains:
    """The custom field's value contains `text` (lower case), ignoring case."""

    field: str
    text: str


@dataclass(frozen=True, slots=True)
class CustomSet:
    """The task holds a value for the custom field (not `""`, not `[]`)."""

    field: str


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
class NoneOf:
    """Not the one `part` (a single negated condition)."""

    part: Predicate


@dataclass(frozen=True, slots=True)
class Everything:
    pass


@dataclass(frozen=True, slots=True)
class Nothing:
    pass


Predicate = (
    Match
    | IsMissing
    | HasThing
    | TimeRange
    | DueRange
    | PriorityRange
    | Words
    | CustomIs
    | CustomRange
    | CustomWords
    | CustomContains
    | CustomSet
    | AllOf
    | AnyOf
    | NoneOf
    | Everything
    | Nothing
)

PRIORITY_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3, "urgent": 4}
OPEN_CATEGORIES = frozenset({"todo", "in_progress"})
