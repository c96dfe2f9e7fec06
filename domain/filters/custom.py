"""Custom fields in filters: what `cf.Name:…`, `has:cf.Name` and `sort:cf.Name-desc`
mean, given the fields of the projects in scope.

A name matches a field's id or its name (case-insensitive) in every project in
scope, so one condition may stand for several fields (one per project, never
sharing a task). A name no project in scope has is a `FilterSyntaxError` naming
it; so is a value that fits none of the fields it names (`cf.Severity:hgh`).

How values compare, by the field's type:

| type | with | meaning |
|---|---|---|
| `text` | `:` | every word of the value occurs in the task's value (by stem) |
| `url` | `:` | the task's URL contains the value (ignoring case) |
| `number` | `:` `>` `>=` `<` `<=` | numerically |
| `date` | `:` `>` `>=` `<` `<=` | by day; `2026-12-31`, `today`, or a span ahead (`7d`) |
| `single_select`, `multi_select` | `:` | an option, by name or id (any option of a multi-select) |
| `user` | `:` | `me`, a user id or an email |
| `checkbox` | `:` | `true` / `false` (a task without a value is false) |

`:` with several values (`cf.Severity:high,low`) is any of them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.custom_fields import SELECTS, FieldDef, FieldType
from domain.filters.ast import (
    And,
    CustomField,
    HasCustom,
    Node,
    Not,
    Op,
    Or,
    Query,
    Sort,
    SortKey,
    custom_ref,
)
from domain.filters.errors import FilterSyntaxError
from domain.filters.fields import absolute, is_uuid, relative
from domain.filters.predicates import (
    AllOf,
    AnyOf,
    CustomContains,
    CustomIs,
    CustomRange,
    CustomSet,
    CustomWords,
    Match,
    NoneOf,
    Nothing,
    Predicate,
)
from domain.filters.text import words

if TYPE_CHECKING:
    from domain.filters.resolve import Scope

_CHECKBOX = {"true": True, "yes": True, "false": False, "no": False}


@dataclass(frozen=True, slots=True)
class ScopedField:
    """One custom field of a project the filter runs over."""

    project_id: UUID
    field: FieldDef


class _Mismatch(Exception):
    """A value that does not fit one field (another of the same name may take it)."""


def _named(scope: Scope, name: str, pos: int) -> list[ScopedField]:
    wanted = name.strip().lower()
    found = [s for s in scope.custom_fields if s.field.id == name or s.field.name.lower() == wanted]
    if not found:
        raise FilterSyntaxError(
            f"{custom_ref(name)}: no custom field named {name!r} in the projects searched "
            f"(at position {max(pos, 0)})",
            max(pos, 0),
        )
    return found


def _either(parts: Sequence[Predicate]) -> Predicate:
    kept = [p for p in parts if not isinstance(p, Nothing)]
    if not kept:
        return Nothing()
    return kept[0] if len(kept) == 1 else AnyOf(tuple(kept))


def resolve_custom(node: CustomField, scope: Scope) -> Predicate:
    """`cf.Name op values` as predicates over every field of that name."""
    parts: list[Predicate] = []
    problems: list[str] = []
    for scoped in _named(scope, node.name, node.pos):
        try:
            parts.append(_one(scoped, node, scope))
        except _Mismatch as exc:
            problems.append(str(exc))
    if not parts:
        pos = max(node.pos, 0)
        raise FilterSyntaxError(f"{custom_ref(node.name)}: {problems[0]} (at position {pos})", pos)
    return _either(parts)


def resolve_has(node: HasCustom, scope: Scope) -> Predicate:
    return _either([CustomSet(s.field.id) for s in _named(scope, node.name, node.pos)])


def resolve_sort(sort: Sort, scope: Scope) -> Sort:
    """A custom sort with the ids of the fields it names; only number and date
    fields order (and all fields of the name must be of one of those types)."""
    found = _named(scope, sort.field or "", -1)
    kinds = {s.field.type for s in found}
    if len(kinds) > 1 or not kinds <= {FieldType.NUMBER, FieldType.DATE}:
        shown = ", ".join(sorted(k.value for k in kinds))
        raise FilterSyntaxError(
            f"sort: {custom_ref(sort.field or '')} is a {shown} field; "
            "only number or date fields sort"
        )
    return dataclasses.replace(
        sort,
        field_ids=tuple(s.field.id for s in found),
        numeric=FieldType.NUMBER in kinds,
    )


def custom_position(query: Query) -> int | None:
    """Where the query first names a custom field (a condition or its sort), if it does."""
    if query.sort is not None and query.sort.key is SortKey.CUSTOM:
        return 0
    pending: list[Node] = [query.expr] if query.expr is not None else []
    while pending:
        node = pending.pop()
        if isinstance(node, CustomField | HasCustom):
            return max(node.pos, 0)
        if isinstance(node, Not):
            pending.append(node.child)
        elif isinstance(node, And | Or):
            pending.extend(reversed(node.children))
    return None


def text_field_ids(scope: Scope) -> tuple[str, ...]:
    """The text fields whose values free text also searches."""
    return tuple(s.field.id for s in scope.custom_fields if s.field.type is FieldType.TEXT)


def _one(scoped: ScopedField, node: CustomField, scope: Scope) -> Predicate:
    field = scoped.field
    if field.type not in (FieldType.NUMBER, FieldType.DATE) and node.op is not Op.EQ:
        raise _Mismatch(f"a {field.type.value} field compares only with ':'")
    if field.type is FieldType.URL:
        return _either([CustomContains(field.id, v.lower()) for v in node.values])
    if field.type is FieldType.TEXT:
        found = [tuple(words(v)) for v in node.values]
        if not all(found):
            raise _Mismatch("a text value needs a word to look for")
        return _either([CustomWords(field.id, w) for w in found])
    if field.type is FieldType.NUMBER:
        return _either([_range(field.id, node.op, _number(v)) for v in node.values])
    if field.type is FieldType.DATE:
        days = [_day(v, scope.now).isoformat() for v in node.values]
        return _either([_range(field.id, node.op, d) for d in days])
    if field.type in SELECTS:
        ids = {o.id for v in node.values if (o := field.option(v)) is not None}
        if not ids:
            names = ", ".join(o.name for o in field.options)
            raise _Mismatch(f"no option {', '.join(node.values)!r} (options: {names})")
        return CustomIs(field.id, frozenset(ids))
    if field.type is FieldType.USER:
        return _either([_person(field.id, v, scope) for v in node.values])
    return _either([_checkbox(scoped, v) for v in node.values])


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise _Mismatch(f"expected a number, not {value!r}") from None
    if not math.isfinite(number):
        raise _Mismatch(f"expected a number, not {value!r}")
    return number


def _day(value: str, now: datetime) -> date:
    today = now.astimezone(UTC).date()
    if value.lower() == "today":
        return today
    span = relative(value)
    if span is not None and span >= timedelta(days=1):
        return (now + span).astimezone(UTC).date()
    when = absolute(value)
    if when is None or span is not None:
        raise _Mismatch(f"expected a date (2026-12-31), today or a span (7d), not {value!r}")
    return when.date() if isinstance(when, datetime) else when


def _range(field_id: str, op: Op, bound: float | str) -> CustomRange:
    match op:
        case Op.EQ:
            return CustomRange(field_id, bound, bound)
        case Op.GT:
            return CustomRange(field_id, bound, None, include_low=False)
        case Op.GE:
            return CustomRange(field_id, bound, None)
        case Op.LT:
            return CustomRange(field_id, None, bound, include_high=False)
        case Op.LE:
            return CustomRange(field_id, None, bound)
    raise ValueError(op)  # pragma: no cover


def _person(field_id: str, value: str, scope: Scope) -> Predicate:
    v = value.lower()
    if v == "me":
        return CustomIs(field_id, frozenset({str(scope.me)}))
    if is_uuid(value):
        return CustomIs(field_id, frozenset({str(UUID(value))}))
    if "@" not in value:
        raise _Mismatch(f"expected me, a user id or an email, not {value!r}")
    found = scope.users_by_email.get(v)
    return CustomIs(field_id, frozenset({str(found)})) if found else Nothing()


def _checkbox(scoped: ScopedField, value: str) -> Predicate:
    checked = _CHECKBOX.get(value.lower())
    if checked is None:
        raise _Mismatch(f"expected true or false, not {value!r}")
    ticked = CustomIs(scoped.field.id, frozenset({"true"}))
    if checked:
        return ticked
    # Unticked is any task of the field's project without `true`, a value or not.
    return AllOf((Match("project", frozenset({str(scoped.project_id)})), NoneOf(ticked)))


# -- the value a task holds, for in-memory evaluation and ordering ---------------------


def value_texts(value: Any) -> set[str]:
    """A stored value as the texts `CustomIs` compares (JSON spelling of booleans)."""
    if value is None:
        return set()
    if isinstance(value, bool):
        return {"true" if value else "false"}
    if isinstance(value, list):
        return {str(v) for v in value}
    return {str(value)}


def in_range(value: Any, pred: CustomRange) -> bool:
    bound = pred.low if pred.low is not None else pred.high
    if isinstance(bound, str):
        if not isinstance(value, str):
            return False
    elif isinstance(value, bool) or not isinstance(value, int | float):
        return False
    low_ok = pred.low is None or value > pred.low or (pred.include_low and value == pred.low)
    high_ok = pred.high is None or value < pred.high or (pred.include_high and value == pred.high)
    return low_ok and high_ok


def is_set(value: Any) -> bool:
    return value not in (None, "", [])


def sort_value(values: Mapping[str, Any], sort: Sort) -> float | str | None:
    """The value a custom sort orders a task by (None: last whatever the direction)."""
    for field_id in sort.field_ids:
        value = values.get(field_id)
        if sort.numeric and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if not sort.numeric and isinstance(value, str):
            return value
    return None
