"""What each field of the filter language accepts, checked while parsing.

Values that need the database to mean something (a project key, a user's email,
a status name) are only checked for shape here; `resolve` looks them up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from domain.filters.ast import Op, Sort, SortKey
from domain.filters.lexer import custom_name

PRIORITIES = ("none", "low", "medium", "high", "urgent")
CATEGORIES = ("todo", "in_progress", "done")
IS_VALUES = ("unassigned", "assigned", "open", "closed", "overdue")
HAS_VALUES = ("attachments", "comments", "due", "labels", "sprint", "estimate", "assignee")
SORT_VALUES = tuple(
    [SortKey.RELEVANCE.value]
    + [
        f"{k.value}-{d}"
        for k in SortKey
        if k not in (SortKey.RELEVANCE, SortKey.CUSTOM)
        for d in ("desc", "asc")
    ]
)

_RELATIVE = re.compile(r"([0-9]{1,5})([hdw])")
_PROJECT_KEY = re.compile(r"[A-Za-z]{2,10}")
_TASK_KEY = re.compile(r"[A-Za-z]{2,10}-[1-9][0-9]{0,17}")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}

ALL_OPS = frozenset(Op)
EQ_ONLY = frozenset({Op.EQ})


def is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def relative(value: str) -> timedelta | None:
    """`7d` → 7 days, `12h`, `2w`; None when `value` is not a relative span."""
    m = _RELATIVE.fullmatch(value.lower())
    return None if m is None else int(m.group(1)) * _UNITS[m.group(2)]


def absolute(value: str) -> datetime | date | None:
    """`2026-01-01` → a date, a full ISO timestamp → an aware datetime, else None."""
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _person(value: str, *, none_ok: bool) -> str | None:
    v = value.lower()
    if v == "me" or (none_ok and v == "none") or is_uuid(value) or "@" in value:
        return None
    extra = ", none" if none_ok else ""
    return f"expected me{extra}, a user id or an email, not '{value}'"


def _choice(allowed: tuple[str, ...]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value.lower() in allowed:
            return None
        return f"expected one of {', '.join(allowed)}, not '{value}'"

    return check


def _when(value: str) -> str | None:
    if relative(value) is not None or absolute(value) is not None:
        return None
    return f"expected a date (2026-01-31), a timestamp or a span (7d, 12h, 2w), not '{value}'"


def _due(value: str) -> str | None:
    if value.lower() in ("overdue", "none", "today"):
        return None
    return _when(value)


def _project(value: str) -> str | None:
    if _PROJECT_KEY.fullmatch(value) or is_uuid(value):
        return None
    return f"expected a project key (WEB) or id, not '{value}'"


def _sprint(value: str) -> str | None:
    if value.lower() in ("current", "none") or is_uuid(value):
        return None
    return f"expected current, none or a sprint id, not '{value}'"


def _key(value: str) -> str | None:
    return None if _TASK_KEY.fullmatch(value) else f"expected a task key (WEB-12), not '{value}'"


def _any(value: str) -> str | None:
    return None


def _custom_sort(value: str) -> tuple[str, bool] | None:
    """`cf.Points-desc` / `cf."Story points"-asc` → (name, descending), else None."""
    if value[:3].lower() != "cf.":
        return None
    name, end = custom_name(value, 0)
    rest = value[end:].lower()
    if not rest and "-" in name:  # a bare name: the direction is its last part
        name, _, direction = name.rpartition("-")
        rest = "-" + direction.lower()
    if not name.strip() or rest not in ("-desc", "-asc"):
        return None
    return name, rest == "-desc"


def _sort(value: str) -> str | None:
    if value.lower() in SORT_VALUES or _custom_sort(value) is not None:
        return None
    return f"expected one of {', '.join(SORT_VALUES)} or cf.<field>-desc / -asc, not '{value}'"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    ops: frozenset[Op]
    #: None when the value fits, else why not.
    check: Callable[[str], str | None]


FIELDS: dict[str, FieldSpec] = {
    "assignee": FieldSpec(EQ_ONLY, lambda v: _person(v, none_ok=True)),
    "reporter": FieldSpec(EQ_ONLY, lambda v: _person(v, none_ok=False)),
    "status": FieldSpec(EQ_ONLY, _any),
    "priority": FieldSpec(ALL_OPS, _choice(PRIORITIES)),
    "label": FieldSpec(EQ_ONLY, _any),
    "project": FieldSpec(EQ_ONLY, _project),
    "sprint": FieldSpec(EQ_ONLY, _sprint),
    "created": FieldSpec(ALL_OPS, _when),
    "updated": FieldSpec(ALL_OPS, _when),
    "due": FieldSpec(ALL_OPS, _due),
    "is": FieldSpec(EQ_ONLY, _choice(IS_VALUES)),
    "has": FieldSpec(EQ_ONLY, _choice(HAS_VALUES)),
    "key": FieldSpec(EQ_ONLY, _key),
    "sort": FieldSpec(EQ_ONLY, _sort),
}


def parse_sort(value: str) -> Sort:
    """A checked `sort:` value as a Sort."""
    v = value.lower()
    if v == SortKey.RELEVANCE.value:
        return Sort(SortKey.RELEVANCE)
    custom = _custom_sort(value)
    if custom is not None:
        return Sort(SortKey.CUSTOM, descending=custom[1], field=custom[0])
    key, _, direction = v.rpartition("-")
    return Sort(SortKey(key), descending=direction == "desc")
