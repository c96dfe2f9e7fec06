"""Custom field conditions in SQL, over `tasks.custom_fields` (JSONB: values by field id).

The pieces `storage.task_filter_sql` puts together for the `Custom*` predicates
and a `sort:cf.…` order. Every condition is two-valued (`coalesce(…, false)`), so
`NOT` of a condition on a task without the value is true, as in memory. Numbers
compare as double precision (as Python floats do), dates as ISO text in the "C"
collation (so `2026-01-02` < `2026-01-10` whatever the database's locale).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, literal_column, or_
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION, array

from domain.filters.ast import Sort
from domain.filters.predicates import CustomRange
from storage import tables as t

_CF = t.tasks.c.custom_fields
#: The stored forms of "no value" that `has:cf.…` does not count.
_EMPTY: tuple[Any, ...] = (literal_column("'\"\"'::jsonb"), literal_column("'[]'::jsonb"))


def _value(field_id: str) -> Any:
    return _CF[field_id]


def text_of(field_id: str) -> Any:
    """The value as text (`->>`): NULL when the task has none."""
    return _CF[field_id].astext


def _number(field_id: str) -> Any:
    v = _value(field_id)
    return case((func.jsonb_typeof(v) == "number", v.astext.cast(DOUBLE_PRECISION)), else_=None)


def _date(field_id: str) -> Any:
    v = _value(field_id)
    return case((func.jsonb_typeof(v) == "string", v.astext.collate("C")), else_=None)


def is_one_of(field_id: str, values: Collection[str]) -> ColumnElement[bool]:
    """The value (or, for a list, an element) as text is one of `values`."""
    v = _value(field_id)
    wanted = sorted(values)
    listed = and_(func.jsonb_typeof(v) == "array", v.has_any(array(wanted)))
    return func.coalesce(or_(v.astext.in_(wanted), listed), false())


def in_range(pred: CustomRange) -> ColumnElement[bool]:
    bound = pred.low if pred.low is not None else pred.high
    value = _date(pred.field) if isinstance(bound, str) else _number(pred.field)
    parts = []
    if pred.low is not None:
        parts.append(value >= pred.low if pred.include_low else value > pred.low)
    if pred.high is not None:
        parts.append(value <= pred.high if pred.include_high else value < pred.high)
    return func.coalesce(and_(*parts), false())


def has_words(field_id: str, tsv: Callable[[Any], Any], tsquery: Any) -> ColumnElement[bool]:
    """The text value's search vector matches `tsquery` (false without a value)."""
    return func.coalesce(tsv(text_of(field_id)).bool_op("@@")(tsquery), false())


def contains(field_id: str, text: str) -> ColumnElement[bool]:
    """The value contains `text` (lower case), ignoring case (no LIKE wildcards)."""
    return func.coalesce(func.strpos(func.lower(text_of(field_id)), text) > 0, false())


def is_set(field_id: str) -> ColumnElement[bool]:
    return and_(_CF.has_key(field_id), _value(field_id).notin_(_EMPTY))


def sort_key(sort: Sort) -> Any:
    """The value a custom sort orders by: the first of its fields the task holds."""
    keys = [_number(f) if sort.numeric else _date(f) for f in sort.field_ids]
    if not keys:
        return literal_column("NULL")
    return keys[0] if len(keys) == 1 else func.coalesce(*keys)
