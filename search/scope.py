"""Gathering what a filter's words mean for one caller (`domain.filters.Scope`).

Up to three small reads in one connection, each only when the query needs it
(`domain.filters.needs`): the readable projects (keys, workflows, custom fields,
only the columns asked for), the organisation's members (emails), and the active
sprints. Plain free text over the index reads none of them. The route then
resolves the parsed filter purely.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.custom_fields import definitions_from_json
from domain.filters.custom import ScopedField
from domain.filters.needs import EVERYTHING, NOTHING, Needs
from domain.filters.resolve import Scope
from storage import tables as t
from storage.project_store import workflow_of
from storage.task_filter_sql import Categories


@dataclass(frozen=True, slots=True)
class FilterFacts:
    scope: Scope
    #: Per readable project: status id → category (for SQL and in-memory evaluation).
    categories: Categories


def for_index(needs: Needs) -> Needs:
    """What the search index needs of `needs`: each document holds its status
    category, and free text there covers text custom values (`cfbody`), so
    neither categories nor the text fields' ids are read for a search."""
    return dataclasses.replace(needs, categories=False, text_fields=False)


async def load_facts(
    engine: AsyncEngine,
    *,
    org_id: UUID,
    user_id: UUID,
    readable: Collection[UUID],
    needs: Needs = EVERYTHING,
    now: datetime | None = None,
) -> FilterFacts:
    """The facts `needs` asks for, in one connection (none when it asks for
    nothing); the others are left empty, which `resolve` never reads for a query
    whose needs they are not."""
    now = now or datetime.now(UTC)
    if needs == NOTHING:
        return FilterFacts(Scope(me=user_id, now=now), {})
    async with engine.connect() as conn:
        return await _read(conn, org_id, user_id, readable, needs, now)


async def _read(
    conn: AsyncConnection,
    org_id: UUID,
    user_id: UUID,
    readable: Collection[UUID],
    needs: Needs,
    now: datetime,
) -> FilterFacts:
    projects = await _projects(conn, org_id, readable, needs) if needs.projects else []
    names: dict[str, set[str]] = defaultdict(set)
    categories: dict[UUID, dict[str, str]] = {}
    custom: list[ScopedField] = []
    for row in projects:
        if needs.statuses or needs.categories:
            statuses = workflow_of(row).statuses
            categories[row.id] = {s.id: s.category.value for s in statuses}
            for status in statuses:
                names[status.name.lower()].add(status.id)
        if needs.custom_fields or needs.text_fields:
            custom.extend(ScopedField(row.id, f) for f in definitions_from_json(row.custom_fields))
    scope = Scope(
        me=user_id,
        now=now,
        projects_by_key={row.key.upper(): row.id for row in projects},
        users_by_email=await _members(conn, org_id) if needs.people else {},
        current_sprints=await _sprints(conn, org_id, readable) if needs.sprints else frozenset(),
        statuses_by_name={k: frozenset(v) for k, v in names.items()},
        custom_fields=tuple(custom),
    )
    return FilterFacts(scope, categories)


async def _projects(
    conn: AsyncConnection, org_id: UUID, readable: Collection[UUID], needs: Needs
) -> list[Any]:
    """The live readable projects' rows, oldest first, with the columns `needs` reads."""
    p = t.projects.c
    columns: list[Any] = [p.id, p.key]
    if needs.statuses or needs.categories:
        columns += [p.workflow, p.settings]
    if needs.custom_fields or needs.text_fields:
        columns.append(p.custom_fields)
    rows = await conn.execute(
        select(*columns)
        .where(p.org_id == org_id, p.deleted_at.is_(None), p.id.in_(list(readable)))
        .order_by(p.created_at, p.id)
    )
    return list(rows)


async def _members(conn: AsyncConnection, org_id: UUID) -> dict[str, UUID]:
    u, m = t.users.c, t.org_members.c
    rows = await conn.execute(
        select(func.lower(u.email), u.id)
        .select_from(t.users.join(t.org_members, m.user_id == u.id))
        .where(m.org_id == org_id)
    )
    return {row[0]: row[1] for row in rows}


async def _sprints(
    conn: AsyncConnection, org_id: UUID, readable: Collection[UUID]
) -> frozenset[UUID]:
    """The active sprints of the readable projects (`readable` lists live projects only)."""
    s = t.sprints.c
    found = await conn.scalars(
        select(s.id).where(
            s.org_id == org_id, s.state == "active", s.project_id.in_(list(readable))
        )
    )
    return frozenset(found)
