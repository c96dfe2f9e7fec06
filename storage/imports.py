"""Import jobs: created when a file was planned, advanced batch by batch.

Functions take an open connection and never commit. Jobs are read with their
`org_id` and `project_id`, so another organisation's job is not found.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import func, null, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t

i = t.imports.c


def job_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "project_id": str(row.project_id),
        "source": row.source,
        "status": row.status,
        "total": row.total,
        "done": row.done,
        "progress": round(row.done / row.total, 4) if row.total else 1.0,
        "report": row.report,
        "error": row.error,
        "created_by": str(row.created_by) if row.created_by else None,
        "created_at": row.created_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }


async def create(conn: AsyncConnection, **values: Any) -> Any:
    row = await conn.execute(t.imports.insert().values(**values).returning(*t.imports.c))
    return row.one()


async def get(conn: AsyncConnection, *, org_id: UUID, project_id: UUID, job_id: UUID) -> Any:
    row = await conn.execute(
        select(t.imports).where(i.id == job_id, i.org_id == org_id, i.project_id == project_id)
    )
    return row.one_or_none()


async def list_jobs(conn: AsyncConnection, *, org_id: UUID, project_id: UUID) -> list[Any]:
    rows = await conn.execute(
        select(t.imports)
        .where(i.org_id == org_id, i.project_id == project_id)
        .order_by(i.created_at.desc())
        .limit(50)
    )
    return list(rows)


async def advance(conn: AsyncConnection, job_id: UUID, done: int) -> None:
    """Record progress; also the job's heartbeat."""
    await conn.execute(
        update(t.imports).where(i.id == job_id).values(done=done, heartbeat_at=func.now())
    )


async def finish(
    conn: AsyncConnection, job_id: UUID, *, status: str, error: str | None = None
) -> None:
    """End the job; its plan is not needed any more."""
    await conn.execute(
        update(t.imports)
        .where(i.id == job_id)
        .values(status=status, error=error, finished_at=func.now(), plan=null())
    )


async def claim_stalled(conn: AsyncConnection, *, silent_s: float) -> Any | None:
    """A running job whose heartbeat is older than `silent_s` (its process died),
    its heartbeat renewed so no other process claims it too; None if there is none."""
    stalled = (
        select(i.id)
        .where(
            i.status == "running",
            i.plan.is_not(None),
            i.heartbeat_at
            < func.now() - text("make_interval(secs => :silent)").bindparams(silent=silent_s),
        )
        .order_by(i.heartbeat_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    row = await conn.execute(
        update(t.imports)
        .where(i.id == stalled)
        .values(heartbeat_at=func.now())
        .returning(*t.imports.c)
    )
    return row.one_or_none()
