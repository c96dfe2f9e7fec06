"""The filter language in SQL: resolved predicates → a WHERE clause over `tasks`.

The third backend beside the search index and in-memory evaluation, kept in
agreement with them (`tests/integration/test_task_filter.py`):
- every condition is two-valued: a nullable column is tested `IS NOT NULL AND …`,
  so `NOT` of a condition on a missing value is true, as in memory;
- free text uses the `taskhive_english` text search configuration (Snowball
  English stems, no stop words; migration 0006), matching each word in the title,
  description, key or a live comment, and a phrase within one of them;
- status categories come from each project's workflow (`categories`);
- custom field values are read from the `custom_fields` JSONB column by field id
  (`storage.custom_field_sql`).
Functions take an open connection and never commit.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.filters.ast import Sort, SortKey
from domain.filters.predicates import (
    PRIORITY_RANK,
    AllOf,
    AnyOf,
    CustomContains,
    CustomIs,
    CustomRange,
    CustomSet,
    CustomWords,
    DueRange,
    Everything,
    Has,
    HasThing,
    IsMissing,
    Match,
    Missing,
    NoneOf,
    Nothing,
    Predicate,
    PriorityRange,
    TimeRange,
    Words,
)
from domain.tasks import Task
from storage import custom_field_sql as cf
from storage import tables as t
from storage.project_store import task_from_row

TS_CONFIG = "taskhive_english"

#: Per project: status id → category.
Categories = Mapping[UUID, Mapping[str, str]]

_T = t.tasks.c
_UUID_COLUMNS = {
    "assignee": _T.assignee_id,
    "reporter": _T.reporter_id,
    "project": _T.project_id,
    "sprint": _T.sprint_id,
}
_MISSING = {
    Missing.ASSIGNEE: _T.assignee_id,
    Missing.SPRINT: _T.sprint_id,
    Missing.DUE: _T.due_date,
}
_PRIORITY_RANK = case(PRIORITY_RANK, value=_T.priority, else_=0)


def _uuids(values: Collection[str]) -> list[UUID]:
    out = []
    for v in values:
        try:
            out.append(UUID(v))
        except ValueError:
            continue
    return out


def _match(name: str, values: Collection[str], categories: Categories) -> ColumnElement[bool]:
    if name in _UUID_COLUMNS:
        col = _UUID_COLUMNS[name]
        ids = _uuids(values)
        return and_(col.isnot(None), col.in_(ids)) if ids else false()
    if name == "status":
        return _T.status.in_(sorted(values))
    if name == "priority":
        return _T.priority.in_(sorted(values))
    if name == "key":
        return func.upper(_T.key).in_(sorted(values))
    if name == "label":
        label = func.unnest(_T.labels).table_valued("name").render_derived()
        return exists(
            select(literal(1))
            .select_from(label)
            .where(func.lower(label.c.name).in_(sorted(values)))
        )
    if name == "category":
        per_project = [
            and_(_T.project_id == pid, _T.status.in_(sorted(matching)))
            for pid, statuses in categories.items()
            if (matching := [s for s, c in statuses.items() if c in values])
        ]
        return or_(false(), *per_project)
    raise ValueError(f"unknown field {name!r}")  # pragma: no cover


def _live(table: Any) -> ColumnElement[bool]:
    return and_(
        table.c.task_id == _T.id,
        table.c.project_id == _T.project_id,
        table.c.deleted_at.is_(None),
    )


def _has(thing: Has) -> ColumnElement[bool]:
    match thing:
        case Has.ATTACHMENTS:
            return exists(select(literal(1)).where(_live(t.attachments)))
        case Has.COMMENTS:
            return exists(select(literal(1)).where(_live(t.comments)))
        case Has.DUE:
            return _T.due_date.isnot(None)
        case Has.LABELS:
            return func.cardinality(_T.labels) > 0
        case Has.SPRINT:
            return _T.sprint_id.isnot(None)
        case Has.ESTIMATE:
            return _T.estimate.isnot(None)
        case Has.ASSIGNEE:
            return _T.assignee_id.isnot(None)


def _tsv(column: Any) -> Any:
    return func.to_tsvector(literal(TS_CONFIG).cast(_regconfig()), column)


def _regconfig() -> Any:
    from sqlalchemy.dialects.postgresql import REGCONFIG

    return REGCONFIG()


def _text(tsquery: Any, fields: tuple[str, ...]) -> ColumnElement[bool]:
    """The tsquery matches the title, description, key, a live comment or the value
    of one of the text custom `fields`."""
    comment = exists(
        select(literal(1)).where(_live(t.comments), _tsv(t.comments.c.body).bool_op("@@")(tsquery))
    )
    custom = [func.coalesce(_tsv(cf.text_of(f)).bool_op("@@")(tsquery), false()) for f in fields]
    return or_(
        _tsv(_T.title).bool_op("@@")(tsquery),
        _tsv(_T.description).bool_op("@@")(tsquery),
        _tsv(_T.key).bool_op("@@")(tsquery),
        comment,
        *custom,
    )


def _words(words: tuple[str, ...], phrase: bool, fields: tuple[str, ...]) -> ColumnElement[bool]:
    config = literal(TS_CONFIG).cast(_regconfig())
    if phrase:
        return _text(func.phraseto_tsquery(config, " ".join(words)), fields)
    return and_(*(_text(func.plainto_tsquery(config, w), fields) for w in words))


def where(pred: Predicate, categories: Categories) -> ColumnElement[bool]:
    """The WHERE clause over `tasks` for `pred`."""
    match pred:
        case Everything():
            return true()
        case Nothing():
            return false()
        case Match(field=name, values=values):
            return _match(name, values, categories)
        case IsMissing(field=missing):
            return _MISSING[missing].is_(None)
        case HasThing(thing=thing):
            return _has(thing)
        case TimeRange(field=name, start=start, end=end):
            col = _T.created_at if name == "created" else _T.updated_at
            return and_(
                true(),
                *([col >= start] if start else []),
                *([col < end] if end else []),
            )
        case DueRange(start=start, end=end):
            return and_(
                _T.due_date.isnot(None),
                *([_T.due_date >= start] if start else []),
                *([_T.due_date < end] if end else []),
            )
        case PriorityRange(low=low, high=high):
            return _PRIORITY_RANK.between(low, high)
        case Words(words=words, phrase=phrase, fields=fields):
            return _words(words, phrase, fields)
        case CustomIs(field=field_id, values=values):
            return cf.is_one_of(field_id, values)
        case CustomRange():
            return cf.in_range(pred)
        case CustomWords(field=field_id, words=words):
            config = literal(TS_CONFIG).cast(_regconfig())
            return and_(
                *(cf.has_words(field_id, _tsv, func.plainto_tsquery(config, w)) for w in words)
            )
        case CustomContains(field=field_id, text=text):
            return cf.contains(field_id, text)
        case CustomSet(field=field_id):
            return cf.is_set(field_id)
        case AllOf(parts=parts):
            return and_(*(where(p, categories) for p in parts))
        case AnyOf(parts=parts):
            return or_(*(where(p, categories) for p in parts))
        case NoneOf(part=part):
            return not_(where(part, categories))
    raise TypeError(f"not a predicate: {pred!r}")  # pragma: no cover


def _order(sort: Sort | None) -> list[Any]:
    if sort is None or sort.key is SortKey.RELEVANCE:
        return [_T.created_at, _T.id]
    if sort.key is SortKey.CUSTOM:
        key = cf.sort_key(sort)
        return [key.desc().nulls_last() if sort.descending else key.asc().nulls_last(), _T.id]
    col = {
        SortKey.UPDATED: _T.updated_at,
        SortKey.CREATED: _T.created_at,
        SortKey.DUE: _T.due_date,
        SortKey.PRIORITY: _PRIORITY_RANK,
    }[sort.key]
    ordered = col.desc().nulls_last() if sort.descending else col.asc().nulls_last()
    return [ordered, _T.id]


async def filtered_tasks(
    conn: AsyncConnection,
    *,
    org_id: UUID,
    project_ids: Collection[UUID],
    pred: Predicate,
    categories: Categories,
    sort: Sort | None,
    limit: int,
    offset: int = 0,
) -> list[Task]:
    """Up to `limit + 1` tasks of the given (readable) projects matching `pred`, in
    the filter's order (oldest first without one), skipping `offset`."""
    if not project_ids:
        return []
    query = (
        select(t.tasks)
        .where(
            _T.org_id == org_id,
            _T.project_id.in_(list(project_ids)),
            where(pred, categories),
        )
        .order_by(*_order(sort))
        .offset(offset)
        .limit(limit + 1)
    )
    return [task_from_row(r) for r in await conn.execute(query)]


async def matching_ids(
    conn: AsyncConnection,
    *,
    org_id: UUID,
    project_id: UUID,
    pred: Predicate,
    categories: Categories,
) -> frozenset[UUID]:
    """The ids of one project's live tasks matching `pred` (a filtered board asks its
    grain for these, so the board filters exactly as the task list does)."""
    query = select(_T.id).where(
        _T.org_id == org_id, _T.project_id == project_id, where(pred, categories)
    )
    return frozenset(r[0] for r in await conn.execute(query))


async def count_filtered(
    conn: AsyncConnection,
    *,
    org_id: UUID,
    project_ids: Collection[UUID],
    pred: Predicate,
    categories: Categories,
) -> int:
    if not project_ids:
        return 0
    n = await conn.scalar(
        select(func.count()).where(
            _T.org_id == org_id,
            _T.project_id.in_(list(project_ids)),
            where(pred, categories),
        )
    )
    return int(n or 0)
