"""Automation rules and their run log.

Functions take an open connection and never commit. Rules are read with their
`org_id` and `project_id`. A run is queued once per (rule, event) — replays of
the event stream add nothing — and claimed by one worker at a time
(`FOR UPDATE SKIP LOCKED`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.custom_fields import definitions_from_json
from domain.filters import Scope
from domain.filters.custom import ScopedField
from storage import tables as t

r = t.automation_rules.c
u = t.automation_runs.c


def rule_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "project_id": str(row.project_id),
        "name": row.name,
        "trigger": row.trigger,
        "condition": row.condition,
        "actions": row.actions,
        "enabled": row.enabled,
        "consecutive_failures": row.consecutive_failures,
        "disabled_reason": row.disabled_reason,
        "created_by": str(row.created_by) if row.created_by else None,
        "created_at": row.created_at.isoformat(),
        "next_run_at": row.next_run_at.isoformat() if row.next_run_at else None,
    }


def run_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "rule_id": str(row.rule_id),
        "version": row.version,
        "occasion": row.occasion,
        "task_id": str(row.task_id) if row.task_id else None,
        "event_type": row.event_type,
        "depth": row.depth,
        "status": row.status,
        "detail": row.detail,
        "created_at": row.created_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }


async def create_rule(conn: AsyncConnection, **values: Any) -> Any:
    row = await conn.execute(
        t.automation_rules.insert().values(id=uuid4(), **values).returning(*t.automation_rules.c)
    )
    return row.one()


async def get_rule(conn: AsyncConnection, *, org_id: UUID, project_id: UUID, rule_id: UUID) -> Any:
    row = await conn.execute(
        select(t.automation_rules).where(
            r.id == rule_id, r.org_id == org_id, r.project_id == project_id
        )
    )
    return row.one_or_none()


async def list_rules(conn: AsyncConnection, *, org_id: UUID, project_id: UUID) -> list[Any]:
    rows = await conn.execute(
        select(t.automation_rules)
        .where(r.org_id == org_id, r.project_id == project_id)
        .order_by(r.created_at, r.id)
    )
    return list(rows)


async def update_rule(
    conn: AsyncConnection, *, org_id: UUID, project_id: UUID, rule_id: UUID, values: dict[str, Any]
) -> Any:
    if values.get("enabled") is True:  # switched back on: a fresh start
        values = {**values, "consecutive_failures": 0, "disabled_reason": None}
    row = await conn.execute(
        update(t.automation_rules)
        .where(r.id == rule_id, r.org_id == org_id, r.project_id == project_id)
        .values(**values)
        .returning(*t.automation_rules.c)
    )
    return row.one_or_none()


async def delete_rule(
    conn: AsyncConnection, *, org_id: UUID, project_id: UUID, rule_id: UUID
) -> bool:
    result = await conn.execute(
        t.automation_rules.delete()
        .where(r.id == rule_id, r.org_id == org_id, r.project_id == project_id)
        .returning(r.id)
    )
    return result.first() is not None


async def enabled_rules(conn: AsyncConnection, project_id: UUID) -> list[Any]:
    rows = await conn.execute(
        select(t.automation_rules).where(r.project_id == project_id, r.enabled)
    )
    return list(rows)


async def projects_with_rules(conn: AsyncConnection, project_ids: Collection[UUID]) -> set[UUID]:
    """Of `project_ids`, those with an enabled rule, in one statement whatever
    their number (the relay asks once per pass)."""
    if not project_ids:
        return set()
    rows = await conn.scalars(_WITH_RULES, {"projects": list(project_ids)})
    return set(rows)


_WITH_RULES = text(
    "SELECT DISTINCT project_id FROM automation_rules"
    " WHERE project_id = ANY(CAST(:projects AS uuid[])) AND enabled"
).columns(r.project_id)


async def queue_runs(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    result = await conn.execute(
        pg_insert(t.automation_runs)
        .on_conflict_do_nothing(constraint="automation_runs_occasion_key")
        .returning(u.id),
        rows,
    )
    return len(result.all())


async def claim_pending(conn: AsyncConnection, limit: int) -> list[Any]:
    """Pending runs with their rule, oldest first, locked for this transaction."""
    rows = await conn.execute(
        select(t.automation_runs, t.automation_rules.c.trigger.label("rule_trigger"))
        .join(t.automation_rules, r.id == u.rule_id)
        .where(u.status == "pending")
        .order_by(u.created_at)
        .limit(limit)
        .with_for_update(of=t.automation_runs, skip_locked=True)
    )
    return list(rows)


async def finish_run(
    conn: AsyncConnection, run_id: UUID, *, status: str, detail: str | None, now: datetime
) -> None:
    await conn.execute(
        update(t.automation_runs)
        .where(u.id == run_id)
        .values(status=status, detail=(detail or "")[:2000] or None, finished_at=now)
    )


async def rule_outcome(conn: AsyncConnection, rule_id: UUID, *, failed: bool) -> int:
    """Count a run's outcome against the rule; its consecutive failures after it."""
    failures = r.consecutive_failures + 1 if failed else 0
    value = await conn.scalar(
        update(t.automation_rules)
        .where(r.id == rule_id)
        .values(consecutive_failures=failures)
        .returning(r.consecutive_failures)
    )
    return int(value or 0)


async def disable(conn: AsyncConnection, rule_id: UUID, reason: str) -> Any:
    row = await conn.execute(
        update(t.automation_rules)
        .where(r.id == rule_id, r.enabled)
        .values(enabled=False, disabled_reason=reason)
        .returning(*t.automation_rules.c)
    )
    return row.one_or_none()


async def runs_of(conn: AsyncConnection, rule_id: UUID, limit: int) -> list[Any]:
    rows = await conn.execute(
        select(t.automation_runs)
        .where(u.rule_id == rule_id)
        .order_by(u.created_at.desc(), u.id.desc())
        .limit(limit)
    )
    return list(rows)


async def rule_by_id(conn: AsyncConnection, rule_id: UUID) -> Any:
    row = await conn.execute(select(t.automation_rules).where(r.id == rule_id))
    return row.one_or_none()


async def due_timed_rules(conn: AsyncConnection, *, now: datetime, limit: int) -> list[Any]:
    """Enabled timed rules whose `next_run_at` has come, locked for this transaction."""
    rows = await conn.execute(
        select(t.automation_rules)
        .where(r.enabled, r.next_run_at <= now)
        .order_by(r.next_run_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def set_next_run(conn: AsyncConnection, rule_id: UUID, at: datetime | None) -> None:
    await conn.execute(update(t.automation_rules).where(r.id == rule_id).values(next_run_at=at))


async def condition_scope(
    conn: AsyncConnection, *, org_id: UUID, project_id: UUID, me: UUID, now: datetime
) -> tuple[Scope, list[dict[str, Any]]]:
    """The scope a rule's condition is read in (its owner as `me`; the project's
    key, statuses, active sprints and custom fields; the organisation's people),
    and the project's statuses."""
    p = t.projects.c
    key, workflow, fields = (
        await conn.execute(select(p.key, p.workflow, p.custom_fields).where(p.id == project_id))
    ).one()
    statuses: list[dict[str, Any]] = (workflow or {}).get("statuses", [])
    by_name: dict[str, set[str]] = {}
    for s in statuses:
        by_name.setdefault(s["name"].lower(), set()).add(s["id"])
    sprints = await conn.scalars(
        select(t.sprints.c.id).where(
            t.sprints.c.project_id == project_id, t.sprints.c.state == "active"
        )
    )
    members = await conn.execute(
        select(t.users.c.email, t.users.c.id)
        .join(t.org_members, t.org_members.c.user_id == t.users.c.id)
        .where(t.org_members.c.org_id == org_id)
    )
    scope = Scope(
        me=me,
        now=now,
        projects_by_key={key.upper(): project_id},
        users_by_email={email.lower(): uid for email, uid in members},
        current_sprints=frozenset(sprints),
        statuses_by_name={k: frozenset(v) for k, v in by_name.items()},
        custom_fields=tuple(ScopedField(project_id, f) for f in definitions_from_json(fields)),
    )
    return scope, statuses
