"""The breakdown report: a project's live tasks counted by one dimension.

`group_by` is `status`, `priority`, `assignee`, or a custom field of type
single/multi select, user or checkbox, as `cf:<field id or name>`. Each group
has its task count, how many of them are open (not in a done-category status)
and their estimate sum. Tasks without a value form the group whose `value` is
null (for a checkbox, no value counts as `false`, as in filters); a task with
several options of a multi-select counts in each of them.

`parse_dimension` and `breakdown` are pure; `load_tallies` groups the live
`tasks` table in PostgreSQL (no analytics lag; one row per group comes back,
whatever the project's size), on an open connection, and never commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Text, case, cast, func, literal_column, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.custom_fields import SELECTS, FieldDef, FieldType, field_by_ref
from domain.errors import InvalidInput
from domain.projects import Project
from domain.workflow import Category
from storage import tables as t

PRIORITIES = ("urgent", "high", "medium", "low", "none")
GROUPABLE = (*SELECTS, FieldType.USER, FieldType.CHECKBOX)
BUILT_IN = ("status", "priority", "assignee")
_EMPTY_LIST: Any = literal_column("'[]'::jsonb")


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    field: FieldDef | None = None


@dataclass(frozen=True, slots=True)
class Tally:
    """One group's tasks: `key` is the status id, priority, user id, option id or
    `true`/`false` (None: no value)."""

    key: str | None
    count: int
    open: int
    estimate: Decimal = Decimal(0)


def parse_dimension(group_by: str, fields: Sequence[FieldDef]) -> Dimension:
    """The dimension `group_by` names; `InvalidInput` (422) naming it otherwise."""
    if group_by in BUILT_IN:
        return Dimension(group_by)
    if not group_by.startswith("cf:") or not group_by[3:].strip():
        shown = ", ".join([*BUILT_IN, "cf:<custom field>"])
        raise InvalidInput.field("group_by", f"must be one of {shown}")
    try:
        found = field_by_ref(fields, group_by[3:].strip())
    except InvalidInput:
        raise InvalidInput.field(
            "group_by", f"no custom field {group_by[3:].strip()!r} in this project"
        ) from None
    if found.type not in GROUPABLE:
        raise InvalidInput.field(
            "group_by",
            f"{found.name!r} is a {found.type.value} field; group by a select, user or "
            "checkbox field",
        )
    return Dimension("cf", found)


def _order(project: Project, dim: Dimension) -> list[tuple[str, str]]:
    """The groups every report shows (even when empty), with their labels, in order."""
    match dim.name:
        case "status":
            return [(s.id, s.name) for s in project.workflow.statuses]
        case "priority":
            return [(p, p) for p in PRIORITIES]
        case "assignee":
            return []
    assert dim.field is not None
    if dim.field.type is FieldType.CHECKBOX:
        return [("true", "true"), ("false", "false")]
    if dim.field.type in SELECTS:
        return [(o.id, o.name) for o in dim.field.options]
    return []


def breakdown(
    project: Project, dim: Dimension, found: Sequence[Tally], people: Mapping[str, str]
) -> dict[str, Any]:
    """`{group_by, field, groups: [{value, label, count, open, estimate}]}`; `people`
    (user id → email) labels assignee and user groups. The dimension's known values
    come first in their order (statuses, priorities, options), then others by count
    (ties by label)."""
    tallies = {t.key: t for t in found}
    known = _order(project, dim)
    seen = {k for k, _ in known}
    # Then the rest by count, ties by label (not by id: ids are random).
    extra = sorted(
        (k for k in tallies if k is not None and k not in seen),
        key=lambda k: (-tallies[k].count, people.get(k, k)),
    )
    ordered: list[tuple[str | None, str]] = [*known, *((k, people.get(k, k)) for k in extra)]
    if None in tallies:
        ordered.append((None, "(none)"))
    groups = []
    for key, label in ordered:
        tally = tallies.get(key) or Tally(key, 0, 0)
        groups.append(
            {
                "value": key,
                "label": label,
                "count": tally.count,
                "open": tally.open,
                "estimate": float(tally.estimate),
            }
        )
    shown = dim.field.as_json() if dim.field else None
    name = f"cf:{dim.field.id}" if dim.field else dim.name
    return {"group_by": name, "field": shown, "groups": groups}


def _key(dim: Dimension) -> tuple[Any, Any]:
    """The SQL expression a dimension groups by, and what to join for it (a
    multi-select's options, one row per option; an empty list gives a NULL key)."""
    c = t.tasks.c
    match dim.name:
        case "status":
            return c.status, None
        case "priority":
            return c.priority, None
        case "assignee":
            return cast(c.assignee_id, Text), None
    assert dim.field is not None
    value = c.custom_fields[dim.field.id]
    if dim.field.type is FieldType.CHECKBOX:
        return case((value.astext == "true", "true"), else_="false"), None
    if dim.field.type is FieldType.MULTI_SELECT:
        listed = case((func.jsonb_typeof(value) == "array", value), else_=_EMPTY_LIST)
        options = func.jsonb_array_elements_text(listed).table_valued("value").lateral()
        return options.c.value, options
    return func.nullif(value.astext, ""), None


async def load_tallies(conn: AsyncConnection, project: Project, dim: Dimension) -> list[Tally]:
    """The project's live tasks grouped by `dim`, counted in the database."""
    c = t.tasks.c
    key, joined = _key(dim)
    done = sorted(project.workflow.in_category(Category.DONE.value))
    source: Any = t.tasks if joined is None else t.tasks.outerjoin(joined, true())
    query = (
        select(
            key.label("key"),
            func.count().label("count"),
            func.count().filter(c.status.notin_(done)).label("open"),
            func.coalesce(func.sum(c.estimate), 0).label("estimate"),
        )
        .select_from(source)
        .where(c.org_id == project.org_id, c.project_id == project.id)
        .group_by(key)
    )
    # Positional: a row's `count` would be the tuple method.
    return [
        Tally(group, int(n), int(still_open), Decimal(estimate))
        for group, n, still_open, estimate in await conn.execute(query)
    ]


async def load_people(conn: AsyncConnection, org_id: UUID) -> dict[str, str]:
    """User id → email of the organisation's members (group labels)."""
    u, m = t.users.c, t.org_members.c
    rows = await conn.execute(
        select(u.id, u.email).join(t.org_members, m.user_id == u.id).where(m.org_id == org_id)
    )
    return {str(r.id): r.email for r in rows}
