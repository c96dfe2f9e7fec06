"""`GET /api/v1/dashboard`: the caller's open tasks by priority, what is overdue or
due this week, what changed lately, and how each project they may read is doing."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import Response

from reports.dashboard import dashboard
from reports.days import local_day
from serve_app.access import readable_project_ids
from serve_app.context import Ctx, CurrentPrincipal
from serve_app.responses import json_response
from storage import report_dashboard as store

router = APIRouter(prefix="/api/v1/dashboard", tags=["reports"])

#: Tasks in "recently updated".
RECENT = 20


@router.get("")
async def get_dashboard(principal: CurrentPrincipal, ctx: Ctx) -> Response:
    ids = await readable_project_ids(ctx, principal)
    org = principal.org_id
    async with ctx.engine.connect() as conn:
        projects = await store.projects(conn, org, ids) if ids else []
        live = [p.id for p in projects]
        mine = await store.assigned(conn, org, principal.user_id, live) if live else []
        recent = await store.recently_updated(conn, org, live, RECENT) if live else []
        counts = await store.status_counts(conn, org, live) if live else {}
        sprints = await store.active_sprints(conn, org, live) if live else []
    now = datetime.now(UTC)
    today = {p.id: local_day(now, ZoneInfo(p.time_zone)) for p in projects}
    body = dashboard(
        projects=projects,
        today=today,
        mine=mine[: store.MY_TASKS_LIMIT],
        truncated=len(mine) > store.MY_TASKS_LIMIT,
        recent=recent,
        counts=counts,
        sprints=sprints,
    )
    return json_response(body)
