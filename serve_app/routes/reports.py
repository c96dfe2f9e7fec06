"""Project reports: burndown, burnup, cumulative flow, velocity, cycle time,
throughput and the breakdown by a dimension, as JSON or (`?format=csv`) CSV.

Every report reads the analytics tables the reports consumer keeps from the
event log, so it trails the latest writes by the relay's poll interval. Days are
the project's local days (`time_zone`). The computations live in `reports/`;
these handlers check access, parse the range, read and render.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import select

from domain.errors import InvalidInput, NotFound
from domain.projects import Project
from reports import breakdown as breakdowns
from reports import burndown as burn
from reports import cycle, export
from reports import flow as flows
from reports.days import day_start, local_day, week_of
from serve_app.access import access_project
from serve_app.context import Ctx, CurrentPrincipal
from serve_app.responses import json_response
from storage import reports as store
from storage import tables as t

router = APIRouter(prefix="/api/v1/projects/{project_id}/reports", tags=["reports"])

#: The longest range a daily report covers: two years.
MAX_DAYS = 731
Format = Annotated[Literal["json", "csv"], Query(alias="format")]
FromDay = Annotated[date | None, Query(alias="from", description="first local day (included)")]
ToDay = Annotated[date | None, Query(alias="to", description="last local day (included)")]


def _render(
    body: dict[str, Any],
    fmt: str,
    name: str,
    columns: list[str],
    rows: list[dict[str, Any]],
) -> Response:
    if fmt == "csv":
        return Response(
            export.to_csv(columns, rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return json_response(body)


async def _zone(ctx: Ctx, project: Project) -> ZoneInfo:
    """The zone the project's analytics are counted in (its own until first folded)."""
    async with ctx.engine.connect() as conn:
        name = await store.report_zone(conn, project.id)
    return ZoneInfo(name or project.time_zone)


def _range(
    first: date | None, last: date | None, *, today: date, default_days: int
) -> tuple[date, date]:
    last = last or today
    first = first or last - timedelta(days=default_days - 1)
    if first > last:
        raise InvalidInput.field("from", "must not be after to")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput.field("from", f"a range covers at most {MAX_DAYS} days")
    return first, last


async def _sprint_id(ctx: Ctx, project: Project, sprint_id: UUID | None) -> UUID:
    """The asked sprint, or the project's most recently started one."""
    if sprint_id is not None:
        return sprint_id
    c = t.report_sprints.c
    async with ctx.engine.connect() as conn:
        found = await conn.scalar(
            select(c.sprint_id)
            .where(c.project_id == project.id, c.started_at.is_not(None))
            .order_by(c.started_at.desc())
            .limit(1)
        )
    if found is None:
        raise InvalidInput.field("sprint_id", "no sprint of this project has started; name one")
    sprint_uuid: UUID = found
    return sprint_uuid


async def _sprint_days(
    ctx: Ctx, project: Project, sprint_id: UUID | None
) -> tuple[Any, list[burn.SprintDay]]:
    sid = await _sprint_id(ctx, project, sprint_id)
    zone = await _zone(ctx, project)
    now = datetime.now(UTC)
    async with ctx.engine.connect() as conn:
        sprint = await store.sprint(conn, project.id, sid)
        if sprint is None:
            raise NotFound("sprint not found")
        instants = burn.tally_instants(sprint=sprint, zone=zone, now=now)
        tallies = await store.sprint_tallies(conn, project.id, sid, instants)
        scope = await store.sprint_scope(conn, project.id, sid)
    days = burn.sprint_days(sprint=sprint, tallies=tallies, scope=scope, zone=zone, now=now)
    return sprint, days


@router.get("/burndown")
async def burndown(
    project_id: UUID,
    principal: CurrentPrincipal,
    ctx: Ctx,
    sprint_id: UUID | None = None,
    fmt: Format = "json",
) -> Response:
    """Per day of the sprint: remaining estimate and count, the ideal line, and the
    scope changes of that day. Without `sprint_id`: the latest started sprint."""
    project = await access_project(ctx, principal, project_id)
    sprint, days = await _sprint_days(ctx, project, sprint_id)
    body = burn.burndown_json(sprint, days)
    columns = ["date", "remaining_estimate", "remaining_count", "ideal_estimate", "scope_changes"]
    return _render(body, fmt, "burndown", columns, export.burndown_rows(body))


@router.get("/burnup")
async def burnup(
    project_id: UUID,
    principal: CurrentPrincipal,
    ctx: Ctx,
    sprint_id: UUID | None = None,
    fmt: Format = "json",
) -> Response:
    """Per day of the sprint: its scope and what of it is done (counts and estimates)."""
    project = await access_project(ctx, principal, project_id)
    sprint, days = await _sprint_days(ctx, project, sprint_id)
    body = burn.burnup_json(sprint, days)
    columns = [
        "date",
        "scope_estimate",
        "scope_count",
        "done_estimate",
        "done_count",
        "scope_changes",
    ]
    return _render(body, fmt, "burnup", columns, export.burndown_rows(body))


@router.get("/cumulative-flow")
async def cumulative_flow(
    project_id: UUID,
    principal: CurrentPrincipal,
    ctx: Ctx,
    first: FromDay = None,
    last: ToDay = None,
    fmt: Format = "json",
) -> Response:
    """Tasks (and estimate) per status at the end of each day; default: the last 30 days."""
    project = await access_project(ctx, principal, project_id)
    zone = await _zone(ctx, project)
    start, end = _range(first, last, today=local_day(datetime.now(UTC), zone), default_days=30)
    async with ctx.engine.connect() as conn:
        changes = await store.day_changes(conn, project.id, start, end)
    statuses, days = flows.cumulative_flow(
        changes, first=start, last=end, order=project.workflow.ids
    )
    body = {"from": start.isoformat(), "to": end.isoformat(), **flows.flow_json(statuses, days)}
    columns = ["date", "status", "count", "estimate"]
    return _render(body, fmt, "cumulative-flow", columns, export.flow_rows(body))


@router.get("/velocity")
async def velocity(
    project_id: UUID,
    principal: CurrentPrincipal,
    ctx: Ctx,
    sprints: Annotated[int, Query(ge=1, le=50)] = 6,
    fmt: Format = "json",
) -> Response:
    """Committed (scope at start) against completed (done at completion), per sprint,
    for the last `sprints` completed sprints."""
    project = await access_project(ctx, principal, project_id)
    async with ctx.engine.connect() as conn:
        found = await store.completed_sprints(conn, project.id, sprints)
    body = cycle.velocity_json(found)
    columns = [
        "sprint_id",
        "name",
        "completed_at",
        "committed_count",
        "committed_estimate",
        "completed_count",
        "completed_estimate",
    ]
    return _render(body, fmt, "velocity", columns, body["sprints"])


@router.get("/cycle-time")
async def cycle_time(
    project_id: UUID,
    principal: CurrentPrincipal,
    ctx: Ctx,
    first: FromDay = None,
    last: ToDay = None,
    fmt: Format = "json",
) -> Response:
    """p50/p85/p95 from first in progress to done, for tasks done in the range
    (default: the last 30 days), and each task's point for a scatter plot."""
    project = await access_project(ctx, principal, project_id)
    zone = await _zone(ctx, project)
    start, end = _range(first, last, today=local_day(datetime.now(UTC), zone), default_days=30)
    async with ctx.engine.connect() as conn:
        rows = await store.completions(
            conn, project.id, day_start(start, zone), day_start(end + timedelta(days=1), zone)
        )
    cycles = [
        cycle.Cycle(r.task_id, r.key, r.started_at, r.done_at)
        for r in rows
        if r.started_at is not None and r.done_at is not None
    ]
    body = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        **cycle.cycle_time_json(cycles, without_start=len(rows) - len(cycles)),
    }
    columns = ["task_id", "key", "started_at", "done_at", "cycle_time_days"]
    return _render(body, fmt, "cycle-time", columns, body["tasks"])


@router.get("/throughput")
async def throughput(
    project_id: UUID,
    principal: CurrentPrincipal,
    ctx: Ctx,
    first: FromDay = None,
    last: ToDay = None,
    fmt: Format = "json",
) -> Response:
    """Tasks done per week (weeks start on Monday); default: the last 12 weeks."""
    project = await access_project(ctx, principal, project_id)
    zone = await _zone(ctx, project)
    today = local_day(datetime.now(UTC), zone)
    start, end = _range(
        first or week_of(today) - timedelta(weeks=11), last, today=today, default_days=84
    )
    async with ctx.engine.connect() as conn:
        rows = await store.completions(
            conn, project.id, day_start(start, zone), day_start(end + timedelta(days=1), zone)
        )
    weeks = flows.throughput(
        (r.done_at for r in rows if r.done_at is not None), zone=zone, first=start, last=end
    )
    rows_out: list[dict[str, Any]] = [{"week": w.isoformat(), "done": n} for w, n in weeks]
    body = {"from": start.isoformat(), "to": end.isoformat(), "weeks": rows_out}
    return _render(body, fmt, "throughput", ["week", "done"], rows_out)


@router.get("/breakdown")
async def breakdown(
    project_id: UUID,
    principal: CurrentPrincipal,
    ctx: Ctx,
    group_by: Annotated[
        str,
        Query(
            max_length=80,
            description="status, priority, assignee, or cf:<custom field id or name> "
            "(select, user or checkbox)",
        ),
    ] = "status",
    fmt: Format = "json",
) -> Response:
    """The project's tasks now, counted per group: count, open and estimate sum."""
    project = await access_project(ctx, principal, project_id)
    dimension = breakdowns.parse_dimension(group_by, project.fields)
    async with ctx.engine.connect() as conn:
        tallies = await breakdowns.load_tallies(conn, project, dimension)
        people = await breakdowns.load_people(conn, principal.org_id)
    body = breakdowns.breakdown(project, dimension, tallies, people)
    columns = ["value", "label", "count", "open", "estimate"]
    return _render(body, fmt, "breakdown", columns, body["groups"])
