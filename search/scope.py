"""Gathering what a filter's words mean for one caller (`domain.filters.Scope`).

Three small reads in one connection: the readable projects (keys, workflows,
custom fields), the organisation's members (emails), and the active sprints. The route then
resolves the parsed filter purely.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.filters.custom import ScopedField
from domain.filters.resolve import Scope
from storage import catalog
from storage import tables as t
from storage.task_filter_sql import Categories


@dataclass(frozen=True, slots=True)
class FilterFacts:
    scope: Scope
    #: Per readable project: status id → category (for SQL and in-memory evaluation).
    categories: Categories


async def load_facts(
    conn: AsyncConnection,
    *,
    org_id: UUID,
    user_id: UUID,
    readable: Collection[UUID],
    now: datetime | None = None,
) -> FilterFacts:
    allowed = set(readable)
    projects = [p for p in await catalog.list_projects(conn, org_id=org_id) if p.id in allowed]
    names: dict[str, set[str]] = defaultdict(set)
    categories: dict[UUID, dict[str, str]] = {}
    for project in projects:
        categories[project.id] = {s.id: s.category.value for s in project.workflow.statuses}
        for status in project.workflow.statuses:
            names[status.name.lower()].add(status.id)
    u, m = t.users.c, t.org_members.c
    members = await conn.execute(
        select(func.lower(u.email), u.id)
        .select_from(t.users.join(t.org_members, m.user_id == u.id))
        .where(m.org_id == org_id)
    )
    s = t.sprints.c
    sprints = await conn.scalars(
        select(s.id).where(
            s.org_id == org_id, s.state == "active", s.project_id.in_([p.id for p in projects])
        )
    )
    scope = Scope(
        me=user_id,
        now=now or datetime.now(UTC),
        projects_by_key={p.key.upper(): p.id for p in projects},
        users_by_email={row[0]: row[1] for row in members},
        current_sprints=frozenset(sprints),
        statuses_by_name={k: frozenset(v) for k, v in names.items()},
        custom_fields=tuple(ScopedField(p.id, f) for p in projects for f in p.fields),
    )
    return FilterFacts(scope, categories)
