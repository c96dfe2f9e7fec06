"""From a parsed filter to predicates, given the facts of the caller's organisation.

`Scope` carries what the words of the language mean for this caller at this
moment: who `me` is, which project a key names, which sprints are current, which
status ids a status name stands for, and the time `updated:<7d` counts back from.
The route that runs a filter gathers these (a few small queries) and calls
`resolve`; everything after is pure.

Status: `status:X` matches a status whose id or name is X, or whose category is X
(`todo`, `in_progress`, `done`); `open` is any category but done, `closed` is done.
Dates are days in UTC. For `created`/`updated` a span counts back from now
(`updated:<7d`: changed less than 7 days ago); for `due` it counts forward
(`due:<7d`: due within the next 7 days). Custom fields (`cf.Name:…`) resolve
against the fields of the projects in scope (`domain.filters.custom`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from domain.filters.ast import (
    And,
    CustomField,
    Field,
    HasCustom,
    Node,
    Not,
    Op,
    Or,
    Query,
    Sort,
    SortKey,
    Text,
)
from domain.filters.custom import (
    ScopedField,
    resolve_custom,
    resolve_has,
    resolve_sort,
    text_field_ids,
)
from domain.filters.fields import absolute, is_uuid, relative
from domain.filters.predicates import (
    OPEN_CATEGORIES,
    PRIORITY_RANK,
    AllOf,
    AnyOf,
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
from domain.filters.text import words

_TICK = timedelta(microseconds=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Scope:
    me: UUID
    now: datetime
    #: Project keys (upper case) → ids, of the projects the caller may read.
    projects_by_key: Mapping[str, UUID] = field(default_factory=dict)
    #: Lower-cased emails → user ids, of the organisation's members.
    users_by_email: Mapping[str, UUID] = field(default_factory=dict)
    current_sprints: frozenset[UUID] = frozenset()
    #: Lower-cased status names → the status ids that carry them (across workflows).
    statuses_by_name: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: The custom fields of the projects in scope.
    custom_fields: tuple[ScopedField, ...] = ()

    @property
    def today(self) -> date:
        return self.now.astimezone(UTC).date()


def resolve(query: Query, scope: Scope) -> tuple[Predicate, Sort | None]:
    """The query's condition as predicates, and its order. A name or value that
    means nothing in scope (an unknown custom field) is a FilterSyntaxError."""
    sort = query.sort
    if sort is not None and sort.key is SortKey.CUSTOM:
        sort = resolve_sort(sort, scope)
    if query.expr is None:
        return Everything(), sort
    return _node(query.expr, scope), sort


def _node(node: Node, scope: Scope) -> Predicate:
    match node:
        case Text(value=value, phrase=phrase):
            found = tuple(words(value))
            if not found:
                return Everything()
            return Words(found, phrase=phrase or len(found) > 1, fields=text_field_ids(scope))
        case Field():
            return _field(node, scope)
        case CustomField():
            return resolve_custom(node, scope)
        case HasCustom():
            return resolve_has(node, scope)
        case Not(child=child):
            return _negate(_node(child, scope))
        case And(children=children):
            return _all(tuple(_node(c, scope) for c in children))
        case Or(children=children):
            return _any(tuple(_node(c, scope) for c in children))
    raise TypeError(f"not a filter node: {node!r}")  # pragma: no cover


def _negate(p: Predicate) -> Predicate:
    if isinstance(p, Everything):
        return Nothing()
    if isinstance(p, Nothing):
        return Everything()
    return NoneOf(p)


def _all(parts: tuple[Predicate, ...]) -> Predicate:
    if any(isinstance(p, Nothing) for p in parts):
        return Nothing()
    kept = tuple(p for p in parts if not isinstance(p, Everything))
    if not kept:
        return Everything()
    return kept[0] if len(kept) == 1 else AllOf(kept)


def _any(parts: tuple[Predicate, ...]) -> Predicate:
    if any(isinstance(p, Everything) for p in parts):
        return Everything()
    kept = tuple(p for p in parts if not isinstance(p, Nothing))
    if not kept:
        return Nothing()
    return kept[0] if len(kept) == 1 else AnyOf(kept)


def _match(name: str, values: frozenset[str]) -> Predicate:
    return Match(name, values) if values else Nothing()


def _person(value: str, scope: Scope) -> frozenset[str]:
    v = value.lower()
    if v == "me":
        return frozenset({str(scope.me)})
    if is_uuid(value):
        return frozenset({str(UUID(value))})
    found = scope.users_by_email.get(v)
    return frozenset({str(found)}) if found else frozenset()


def _overdue(scope: Scope) -> Predicate:
    return AllOf((DueRange(None, scope.today), NoneOf(Match("category", frozenset({"done"})))))


def _field(f: Field, scope: Scope) -> Predicate:
    v = f.value.lower()
    match f.name:
        case "assignee":
            if v == "none":
                return IsMissing(Missing.ASSIGNEE)
            return _match("assignee", _person(f.value, scope))
        case "reporter":
            return _match("reporter", _person(f.value, scope))
        case "status":
            return _status(v, scope)
        case "priority":
            return _priority(f.op, v)
        case "label":
            return Match("label", frozenset({v}))
        case "project":
            if is_uuid(f.value):
                return Match("project", frozenset({str(UUID(f.value))}))
            pid = scope.projects_by_key.get(f.value.upper())
            return _match("project", frozenset({str(pid)} if pid else ()))
        case "sprint":
            if v == "none":
                return IsMissing(Missing.SPRINT)
            if v == "current":
                return _match("sprint", frozenset(str(s) for s in scope.current_sprints))
            return Match("sprint", frozenset({str(UUID(f.value))}))
        case "created" | "updated":
            return _time(f, scope)
        case "due":
            return _due(f, scope)
        case "is":
            return _is(v, scope)
        case "has":
            return HasThing(Has(v))
        case "key":
            return Match("key", frozenset({f.value.upper()}))
    raise ValueError(f"field {f.name!r} has no meaning to resolve")  # pragma: no cover


def _status(v: str, scope: Scope) -> Predicate:
    parts: list[Predicate] = []
    ids = set(scope.statuses_by_name.get(v, frozenset()))
    ids.add(v)
    parts.append(Match("status", frozenset(ids)))
    if v in ("todo", "in_progress", "done"):
        parts.append(Match("category", frozenset({v})))
    elif v == "open":
        parts.append(Match("category", OPEN_CATEGORIES))
    elif v == "closed":
        parts.append(Match("category", frozenset({"done"})))
    return _any(tuple(parts))


def _priority(op: Op, v: str) -> Predicate:
    rank = PRIORITY_RANK[v]
    match op:
        case Op.EQ:
            return Match("priority", frozenset({v}))
        case Op.GT:
            low, high = rank + 1, 4
        case Op.GE:
            low, high = rank, 4
        case Op.LT:
            low, high = 0, rank - 1
        case Op.LE:
            low, high = 0, rank
    return PriorityRange(low, high) if low <= high else Nothing()


def _bounds(op: Op, first: datetime, after: datetime) -> tuple[datetime | None, datetime | None]:
    """`[start, end)` for comparing with the period `[first, after)`."""
    match op:
        case Op.EQ:
            return first, after
        case Op.GT:
            return after, None
        case Op.GE:
            return first, None
        case Op.LT:
            return None, first
        case Op.LE:
            return None, after
    raise ValueError(op)  # pragma: no cover


def _time(f: Field, scope: Scope) -> Predicate:
    span = relative(f.value)
    if span is not None:
        cutoff = scope.now - span
        # A span is an age: `<7d` is younger than seven days, i.e. after the cutoff.
        if f.op in (Op.LT, Op.LE, Op.EQ):
            return TimeRange(f.name, cutoff, None)
        return TimeRange(f.name, None, cutoff)
    when = absolute(f.value)
    if isinstance(when, datetime):
        start, end = _bounds(f.op, when, when + _TICK)
    else:
        assert when is not None  # the parser checked the value
        day = datetime.combine(when, time(), tzinfo=UTC)
        start, end = _bounds(f.op, day, day + _DAY)
    return TimeRange(f.name, start, end)


def _due(f: Field, scope: Scope) -> Predicate:
    v = f.value.lower()
    if v == "overdue":
        return _overdue(scope)
    if v == "none":
        return IsMissing(Missing.DUE)
    if v == "today":
        day = scope.today
    else:
        span = relative(f.value)
        if span is not None:
            day = (scope.now + span).astimezone(UTC).date()
        else:
            when = absolute(f.value)
            assert when is not None  # the parser checked the value
            day = when.date() if isinstance(when, datetime) else when
    start, end = _bounds(
        f.op,
        datetime.combine(day, time(), tzinfo=UTC),
        datetime.combine(day + _DAY, time(), tzinfo=UTC),
    )
    return DueRange(start.date() if start else None, end.date() if end else None)


def _is(v: str, scope: Scope) -> Predicate:
    match v:
        case "unassigned":
            return IsMissing(Missing.ASSIGNEE)
        case "assigned":
            return NoneOf(IsMissing(Missing.ASSIGNEE))
        case "open":
            return Match("category", OPEN_CATEGORIES)
        case "closed":
            return Match("category", frozenset({"done"}))
    return _overdue(scope)
