"""Import into a project (Jira CSV, a mapped CSV, a Taskhive export) and export one.

`POST /api/v1/projects/{id}/imports?source=jira` with the file as the request
body plans the whole file first: when anything is wrong the answer is 422 with
a report naming lines and reasons, and nothing is written. Otherwise it answers
202 with a job whose `GET` shows progress while batches are imported.
`?dry_run=true` only plans. Exports stream, so a project of any size costs one
page of memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from actors import import_runner
from domain import import_formats as formats
from domain.errors import DomainError, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from domain.import_fields import display_value, fields_to_create
from domain.imports import Problem, Report, SourceRow, Target, plan
from serve_app.access import access_project, is_project_admin
from serve_app.client_address import caller_ip
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.responses import json_response
from serve_app.security import Principal
from storage import accounts, export_read
from storage import imports as jobs
from storage.notifications import members_matching

router = APIRouter(prefix="/api/v1/projects/{project_id}", tags=["import and export"])

Source = Literal["jira", "csv", "taskhive"]


class ImportRejected(DomainError):
    """422 with the planning report (lines and reasons)."""

    status = 422
    title = "The file cannot be imported"

    def __init__(self, detail: str, report: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.report = report or {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.detail, self.report))

    def extra(self) -> dict[str, Any]:
        return {"report": self.report}


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > formats.MAX_FILE_BYTES:
        raise PayloadTooLarge(f"imports are at most {formats.MAX_FILE_BYTES // 2**20} MB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > formats.MAX_FILE_BYTES:
            raise PayloadTooLarge(f"imports are at most {formats.MAX_FILE_BYTES // 2**20} MB")
        chunks.append(chunk)
    return b"".join(chunks)


async def _manager(ctx: AppContext, principal: Principal, project_id: UUID) -> Any:
    project = await access_project(ctx, principal, project_id)
    if not await is_project_admin(ctx, principal, project_id):
        raise Forbidden("importing needs an admin of the project or the organisation")
    return project


def _rows(source: Source, data: bytes, mapping: str | None, report: Report) -> list[SourceRow]:
    if source == "jira":
        return formats.read_jira_csv(data, report)
    if source == "taskhive":
        return formats.read_taskhive_json(data, report)
    if not mapping:
        raise InvalidInput.field("mapping", "a CSV import needs a column mapping")
    try:
        parsed = orjson.loads(mapping)
    except orjson.JSONDecodeError:
        raise InvalidInput.field("mapping", "must be a JSON object of field → column") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise InvalidInput.field("mapping", "must be a JSON object of field → column")
    return formats.read_mapped_csv(data, parsed, report)


@router.post("/imports", status_code=202)
async def start_import(
    project_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    ctx: Ctx,
    source: Source,
    mapping: Annotated[
        str | None, Query(description='for `csv`: {"title": "Name", "status": "State", …}')
    ] = None,
    create_statuses: bool = False,
    dry_run: bool = False,
) -> Response:
    """Plan the file (body); 422 with a report if anything is wrong, else 202 and a job."""
    project = await _manager(ctx, principal, project_id)
    data = await _read_body(request)
    report = Report()
    rows = _rows(source, data, mapping, report)
    statuses = {s.name.lower(): s.id for s in project.workflow.statuses}
    statuses |= {s.id: s.id for s in project.workflow.statuses}
    emails = {e.lower() for r in rows for e in (r.assignee, r.reporter) if "@" in e}
    emails |= {c.author.lower() for r in rows for c in r.comments if "@" in c.author}
    # People named in custom field values (user fields hold emails in a file).
    emails |= {
        v.strip().lower() for r in rows for _, v in r.custom if isinstance(v, str) and "@" in v
    }
    async with ctx.engine.connect() as conn:
        members = await members_matching(conn, principal.org_id, emails)
    people = {email.lower(): user_id for user_id, email in members}
    new_fields, clashes = fields_to_create(report.brought_fields, project.fields)
    report.errors.extend(Problem(0, reason, "fields") for reason in clashes)
    report.new_fields = [f.name for f in new_fields]
    target = Target(
        statuses,
        people,
        principal.user_id,
        create_statuses=create_statuses,
        fields={f.name.lower(): f for f in (*project.fields, *new_fields)},
        points_field=source == "jira",
    )
    unknown = sorted({n for r in rows for n, _ in r.custom if n.lower() not in target.fields})
    report.errors.extend(
        Problem(0, f"the project has no custom field named {n!r}", f"cf:{n}") for n in unknown
    )
    items = plan(rows, target, report) if report.ok else []
    if not report.ok:
        raise ImportRejected(
            f"{len(report.errors)} problem(s) found; nothing was imported", report.as_json()
        )
    if dry_run:
        return json_response({"status": "planned", "total": len(items), "report": report.as_json()})
    job_id = uuid4()
    async with ctx.engine.begin() as conn:
        job = await jobs.create(
            conn,
            id=job_id,
            org_id=principal.org_id,
            project_id=project_id,
            created_by=principal.user_id,
            source=source,
            status="running",
            total=len(items),
            report=report.as_json(),
            plan=import_runner.plan_json(items, report.new_statuses, new_fields),
        )
        await accounts.audit(
            conn,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action="project.import_started",
            target_type="project",
            target_id=str(project_id),
            client_ip=caller_ip(request),
            details={"import_id": str(job_id), "source": source, "issues": len(items)},
        )
    import_runner.start(
        ctx,
        job_id=job_id,
        org_id=principal.org_id,
        project_id=project_id,
        actor_id=principal.user_id,
        source=source,
        items=items,
        new_statuses=report.new_statuses,
        new_fields=new_fields,
    )
    return json_response(jobs.job_json(job), status=202)


@router.get("/imports")
async def list_imports(project_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    await access_project(ctx, principal, project_id)
    async with ctx.engine.connect() as conn:
        rows = await jobs.list_jobs(conn, org_id=principal.org_id, project_id=project_id)
    return json_response({"items": [jobs.job_json(r) for r in rows]})


@router.get("/imports/{import_id}")
async def get_import(
    project_id: UUID, import_id: UUID, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """The job: `status` (running, done, failed), `done` of `total`, the report."""
    await access_project(ctx, principal, project_id)
    async with ctx.engine.connect() as conn:
        row = await jobs.get(conn, org_id=principal.org_id, project_id=project_id, job_id=import_id)
    if row is None:
        raise NotFound("import not found")
    return json_response(jobs.job_json(row))


@router.get("/export")
async def export_project(
    project_id: UUID,
    principal: CurrentPrincipal,
    ctx: Ctx,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """The whole project: JSON (tasks, comments, attachments' metadata, workflow,
    labels, custom fields, sprints, people) that `source=taskhive` imports again,
    or the tasks as CSV (custom fields as the last columns, by name)."""
    project = await access_project(ctx, principal, project_id)
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    body = (
        _json_export(ctx, principal, project)
        if format == "json"
        else _csv_export(ctx, principal, project)
    )
    media = "application/json" if format == "json" else "text/csv; charset=utf-8"
    name = f"{project.key}-{stamp}.{format}"
    return StreamingResponse(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


async def _json_export(ctx: AppContext, principal: Principal, project: Any) -> AsyncIterator[bytes]:
    org_id, pid = principal.org_id, project.id
    async with ctx.engine.connect() as conn:
        sprints = await export_read.sprints(conn, org_id, pid)
        people = await export_read.people(conn, org_id)
        head = {
            "format": "taskhive-export",
            "version": 1,
            "exported_at": datetime.now(UTC).isoformat(),
            "project": {"id": str(pid), "key": project.key, "name": project.name},
            "workflow": project.workflow.as_json(),
            "labels": project.labels_json(),
            "fields": [f.as_json() for f in project.fields],
            "sprints": [s.as_json() for s in sprints],
            "people": people,
        }
        yield orjson.dumps(head)[:-1]
        for name, items in (
            ("tasks", _task_json(export_read.tasks(conn, org_id, pid))),
            ("comments", export_read.comments(conn, org_id, pid)),
            ("attachments", export_read.attachments(conn, org_id, pid)),
        ):
            yield f',"{name}":['.encode()
            first = True
            async for item in items:
                yield (b"" if first else b",") + orjson.dumps(item)
                first = False
            yield b"]"
    yield b"}"


async def _task_json(tasks: AsyncIterator[Any]) -> AsyncIterator[dict[str, Any]]:
    async for task in tasks:
        yield task.as_json()


CSV_COLUMNS = (
    "key",
    "title",
    "status",
    "priority",
    "assignee",
    "reporter",
    "labels",
    "estimate",
    "due_date",
    "sprint",
    "parent",
    "created_at",
    "updated_at",
    "description",
)


async def _csv_export(ctx: AppContext, principal: Principal, project: Any) -> AsyncIterator[bytes]:
    org_id, pid = principal.org_id, project.id
    statuses = {s.id: s.name for s in project.workflow.statuses}
    async with ctx.engine.connect() as conn:
        sprints = {s.id: s.name for s in await export_read.sprints(conn, org_id, pid)}
        emails = {p["id"]: p["email"] for p in await export_read.people(conn, org_id)}
        keys = await export_read.task_keys(conn, org_id, pid)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        # Then one column per custom field, named by the field.
        writer.writerow((*CSV_COLUMNS, *(f.name for f in project.fields)))
        async for task in export_read.tasks(conn, org_id, pid):
            custom = [
                display_value(f, task.custom_fields.get(f.id), emails) for f in project.fields
            ]
            writer.writerow(
                (
                    task.key,
                    task.title,
                    statuses.get(task.status, task.status),
                    task.priority.value,
                    emails.get(str(task.assignee_id), "") if task.assignee_id else "",
                    emails.get(str(task.reporter_id), ""),
                    ",".join(task.labels),
                    "" if task.estimate is None else f"{task.estimate:g}",
                    task.due_date.isoformat() if task.due_date else "",
                    sprints.get(task.sprint_id, "") if task.sprint_id else "",
                    keys.get(task.parent_id, "") if task.parent_id else "",
                    task.created_at.isoformat(),
                    task.updated_at.isoformat(),
                    task.description,
                    *custom,
                )
            )
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()
