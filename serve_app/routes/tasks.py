"""Tasks: every read is answered by the project's grain (hot state), every write is
a command to it. Cross-project lists without `project_id` read PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from actors.grain import TaskQuery
from actors.views import statuses_matching
from domain.commands import DEFAULT_ROLE, CreateTask, DeleteTask, UpdateTask
from domain.custom_fields import FieldType
from domain.errors import InvalidInput, NotFound
from domain.filters.fields import is_uuid
from domain.permissions import Action
from serve_app.access import (
    access_task,
    authorize_project,
    caller_role,
    project_readers,
    readable_project_ids,
)
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.idempotency import key_for
from serve_app.responses import (
    decode_cursor,
    encode_cursor,
    encoded_json_response,
    etag,
    json_document,
    json_response,
    parse_if_match,
)
from serve_app.routes import task_export
from serve_app.schemas import Priority, TaskIn, TaskList, TaskOut, TaskPatch
from serve_app.security import Principal
from storage import catalog

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])
# Before `/{ref}`, which would otherwise take `export` for a task reference.
router.include_router(task_export.router)


def _task_response(body: dict[str, Any], *, status: int = 200) -> Response:
    headers = {"ETag": etag(body["version"])}
    if status == 201:
        headers["Location"] = f"/api/v1/tasks/{body['id']}"
    return json_response(body, status=status, headers=headers)


async def _check_assignee(ctx: AppContext, principal: Principal, assignee: UUID | None) -> None:
    if assignee is None:
        return
    async with ctx.reads.connect() as conn:
        member = await catalog.is_org_member(conn, org_id=principal.org_id, user_id=assignee)
    if not member:
        raise InvalidInput.field("assignee_id", "is not a member of this organisation")


async def check_people(ctx: AppContext, principal: Principal, fields: dict[str, Any]) -> None:
    """Assignee and watchers must be members of the caller's organisation."""
    if "assignee_id" in fields:
        await _check_assignee(ctx, principal, fields["assignee_id"])
    watchers = list(dict.fromkeys(fields.get("watchers") or []))
    if watchers:
        async with ctx.reads.connect() as conn:
            found = await catalog.count_org_members(
                conn, org_id=principal.org_id, user_ids=watchers
            )
        if found != len(watchers):
            raise InvalidInput.field("watchers", "must all be members of this organisation")


async def check_field_people(
    ctx: AppContext, principal: Principal, project_id: UUID, values: Any
) -> None:
    """Values of the project's user-type custom fields must name people who may read
    the project: 422 naming the field otherwise. Other problems with the values
    (unknown fields, malformed ids) are left to the grain, which names them."""
    if not isinstance(values, dict) or not values:
        return
    async with ctx.reads.connect() as conn:
        project = await catalog.get_project(conn, org_id=principal.org_id, project_id=project_id)
    users = {f.id: f for f in (project.fields if project else ()) if f.type is FieldType.USER}
    named: dict[UUID, str] = {}
    for ref, value in values.items():
        field = users.get(str(ref)) or next(
            (f for f in users.values() if f.name.lower() == str(ref).lower()), None
        )
        if field is None or value is None or not is_uuid(str(value)):
            continue
        named.setdefault(UUID(str(value)), field.name)
    readers = await project_readers(ctx, principal.org_id, project_id, named)
    for user_id, name in named.items():
        if user_id not in readers:
            raise InvalidInput.field(
                f"custom_fields.{name}", "must be a member who can read this project"
            )


@router.get("", response_model=TaskList)
async def list_tasks(
    principal: CurrentPrincipal,
    ctx: Ctx,
    project_id: UUID | None = None,
    status: Annotated[str | None, Query(max_length=64)] = None,
    assignee_id: Annotated[str | None, Query(description="a user id, or `none`")] = None,
    priority: Priority | None = None,
    label: Annotated[str | None, Query(max_length=64)] = None,
    sprint_id: UUID | None = None,
    parent_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
    filter: Annotated[
        str | None, Query(max_length=2000, description="the filter language (see docs/search.md)")
    ] = None,
) -> Response:
    """A page of tasks, oldest first. `next_cursor` fetches the next page; pages stay
    stable while tasks are added. `status` is a status id, a category (`todo`,
    `in_progress`, `done`) or `open` (any status not in the done category).
    `filter` (e.g. `assignee:me status:open sort:updated-desc`) replaces the other
    filters and is answered from PostgreSQL."""
    if filter is not None:
        return await task_export.filtered_page(
            ctx, principal, filter, project_id=project_id, limit=limit, cursor=cursor
        )
    planning: dict[str, Any] = {"sprint_id": sprint_id, "parent_id": parent_id, "labels": label}
    planning = {k: v for k, v in planning.items() if v is not None}
    assignee: UUID | None = None
    if assignee_id not in (None, "none"):
        try:
            assignee = UUID(assignee_id)
        except ValueError:
            raise InvalidInput("assignee_id must be a user id or 'none'") from None
    if project_id is not None:
        return await project_tasks_page(
            ctx,
            principal,
            project_id,
            cursor,
            status=status,
            assignee_id=assignee,
            unassigned=assignee_id == "none",
            priority=priority,
            limit=limit,
            label=label,
            sprint_id=sprint_id,
            parent_id=parent_id,
        )
    position = decode_cursor(cursor) if cursor else {}
    return await _list_org_tasks(
        ctx, principal, status, assignee, assignee_id, priority, limit, position, planning
    )


async def project_tasks_page(
    ctx: AppContext, principal: Principal, project_id: UUID, cursor: str | None, **filters: Any
) -> Response:
    """A page of one project's tasks, answered by its grain; `filters` are
    `TaskQuery`'s fields."""
    position = decode_cursor(cursor) if cursor else {}
    if position and position.get("p") != str(project_id):
        raise InvalidInput("cursor belongs to another list")
    try:
        after = int(position.get("a", 0))
    except (TypeError, ValueError):
        raise InvalidInput("cursor is not one this API returned") from None
    await authorize_project(ctx, principal, project_id, Action.READ)
    query = TaskQuery(after=after, **filters)
    items, last = await ctx.router.call(
        project_id, "list_tasks_json", principal.org_id, project_id, query
    )
    next_cursor = encode_cursor({"p": str(project_id), "a": last}) if last else None
    return encoded_json_response(json_document(items=items, next_cursor=orjson.dumps(next_cursor)))


async def _list_org_tasks(
    ctx: AppContext,
    principal: Principal,
    status: str | None,
    assignee: UUID | None,
    assignee_id: str | None,
    priority: str | None,
    limit: int,
    position: dict[str, Any],
    planning: dict[str, Any],
) -> Response:
    filters: dict[str, Any] = dict(planning)
    statuses = None
    readable = await readable_project_ids(ctx, principal)
    if status is not None:
        async with ctx.reads.connect() as conn:
            projects = await catalog.list_projects(conn, org_id=principal.org_id)
        statuses = {p.id: statuses_matching(p.workflow, status) for p in projects}
    if priority is not None:
        filters["priority"] = priority
    if assignee is not None or assignee_id == "none":
        filters["assignee_id"] = assignee
    after = None
    if position:
        try:
            after = (datetime.fromisoformat(position["c"]), UUID(position["i"]))
        except (KeyError, TypeError, ValueError):
            raise InvalidInput("cursor is not one this API returned") from None
    async with ctx.reads.connect() as conn:
        found = await catalog.list_org_tasks(
            conn,
            org_id=principal.org_id,
            filters=filters,
            after=after,
            limit=limit,
            statuses=statuses,
            project_ids=readable,
        )
    page = found[:limit]
    next_cursor = None
    if len(found) > limit:
        last = page[-1]
        next_cursor = encode_cursor({"c": last.created_at.isoformat(), "i": str(last.id)})
    return json_response({"items": [t.as_json() for t in page], "next_cursor": next_cursor})


@router.post("", status_code=201, response_model=TaskOut)
async def create_task(
    body: TaskIn,
    principal: CurrentPrincipal,
    ctx: Ctx,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Create a task. With `Idempotency-Key`, a retry returns the first response."""
    return await create_task_in(ctx, principal, body, idempotency_key)


async def create_task_in(
    ctx: AppContext, principal: Principal, body: TaskIn, idempotency_key: str | None
) -> Response:
    fields = body.model_dump(exclude={"project_id"}, exclude_none=True)
    await authorize_project(ctx, principal, body.project_id, Action.WRITE_TASKS)
    await check_people(ctx, principal, fields)
    await check_field_people(ctx, principal, body.project_id, fields.get("custom_fields"))
    idem = key_for(
        principal,
        idempotency_key,
        method="POST",
        path="/api/v1/tasks",
        body=body.model_dump(mode="json"),
    )
    command = CreateTask(actor_id=principal.user_id, fields=fields)
    reply = await ctx.router.call(
        body.project_id, "apply", principal.org_id, body.project_id, command, idem
    )
    if reply.body is None:  # pragma: no cover - a create always answers with the task
        raise NotFound("task not found")
    return _task_response(reply.body, status=reply.status)


@router.get("/{ref}", response_model=TaskOut)
async def get_task(ref: str, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """A task by id or by key (`WEB-42`)."""
    return await read_task(ctx, principal, ref)


async def read_task(ctx: AppContext, principal: Principal, ref: str) -> Response:
    project_id, task_id = await access_task(ctx, principal, ref)
    version, body = await ctx.router.call(
        project_id, "get_task_json", principal.org_id, project_id, task_id
    )
    return encoded_json_response(body, headers={"ETag": etag(version)})


async def update_task(
    ctx: AppContext,
    principal: Principal,
    ref: str,
    body: TaskPatch,
    *,
    method: str,
    path: str,
    if_match: str | None,
) -> Response:
    """PUT and PATCH of a task: any subset of the editable fields."""
    expected = parse_if_match(if_match)
    changes = body.model_dump(exclude_unset=True)
    for field in ("title", "status", "priority"):
        if field in changes and changes[field] is None:
            raise InvalidInput.field(field, "may not be null")
    await check_people(ctx, principal, changes)
    project_id, task_id = await access_task(ctx, principal, ref, Action.WRITE_TASKS)
    await check_field_people(ctx, principal, project_id, changes.get("custom_fields"))
    role = await caller_role(ctx, principal) if "status" in changes else DEFAULT_ROLE
    idem = key_for(principal, None, method=method, path=path, body=None)
    command = UpdateTask(
        actor_id=principal.user_id, task_id=task_id, changes=changes, if_match=expected, role=role
    )
    reply = await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, idem)
    return _task_response(reply.body)


@router.put("/{ref}", response_model=TaskOut)
async def put_task(
    ref: str,
    body: TaskPatch,
    request: Request,
    principal: CurrentPrincipal,
    ctx: Ctx,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Change any subset of the editable fields. A stale `If-Match` gives 412."""
    return await update_task(
        ctx, principal, ref, body, method=request.method, path=request.url.path, if_match=if_match
    )


@router.patch("/{ref}", response_model=TaskOut)
async def patch_task(
    ref: str,
    body: TaskPatch,
    request: Request,
    principal: CurrentPrincipal,
    ctx: Ctx,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Same as PUT: any subset of the editable fields."""
    return await update_task(
        ctx, principal, ref, body, method=request.method, path=request.url.path, if_match=if_match
    )


@router.delete("/{ref}", status_code=204)
async def delete_task(
    ref: str,
    request: Request,
    principal: CurrentPrincipal,
    ctx: Ctx,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    expected = parse_if_match(if_match)
    project_id, task_id = await access_task(ctx, principal, ref, Action.WRITE_TASKS)
    idem = key_for(principal, None, method="DELETE", path=request.url.path, body=None)
    command = DeleteTask(actor_id=principal.user_id, task_id=task_id, if_match=expected)
    await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, idem)
    return Response(status_code=204)
