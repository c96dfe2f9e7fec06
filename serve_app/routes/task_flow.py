"""Moving work along: a task's transitions, board moves, epic progress, history, and
bulk edits. Every status change is a grain command checked by the workflow engine."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from domain.commands import DEFAULT_ROLE, BulkUpdate, MoveTask, UpdateTask
from domain.errors import DomainError, Forbidden, NotFound
from domain.permissions import Action
from serve_app.access import access_task, caller_role
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.idempotency import key_for
from serve_app.planning_schemas import BulkIn, MoveIn, TransitionIn
from serve_app.responses import decode_cursor, encode_cursor, etag, json_response
from serve_app.routes.tasks import check_people
from serve_app.security import Principal
from storage import activity

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


def _task_response(body: dict[str, Any]) -> Response:
    return json_response(body, headers={"ETag": etag(body["version"])})


@router.get("/{ref}/transitions")
async def list_transitions(ref: str, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """The transitions the caller may take now (`transitions`) and those the workflow
    has but the caller may not take yet, with why (`unavailable`)."""
    project_id, task_id = await access_task(ctx, principal, ref)
    role = await caller_role(ctx, principal)
    body = await ctx.router.call(
        project_id, "task_transitions", principal.org_id, project_id, task_id, role
    )
    return json_response(body)


@router.post("/{ref}/transitions")
async def take_transition(
    ref: str, body: TransitionIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Move the task to status `to`; 409 with the `allowed` targets when forbidden."""
    project_id, task_id = await access_task(ctx, principal, ref, Action.WRITE_TASKS)
    role = await caller_role(ctx, principal)
    command = UpdateTask(principal.user_id, task_id, {"status": body.to}, role=role)
    idem = key_for(principal, None, method="POST", path=request.url.path, body=None)
    reply = await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, idem)
    return _task_response(reply.body)


@router.post("/{ref}/move")
async def move(
    ref: str, body: MoveIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Change status and position in one write: before `before_id`, after `after_id`,
    or at the end of the target column."""
    return await move_task(ctx, principal, ref, body, path=request.url.path)


async def move_task(
    ctx: AppContext, principal: Principal, ref: str, body: MoveIn, *, path: str
) -> Response:
    project_id, task_id = await access_task(ctx, principal, ref, Action.WRITE_TASKS)
    role = await caller_role(ctx, principal) if body.status else DEFAULT_ROLE
    command = MoveTask(
        principal.user_id, task_id, body.status, body.before_id, body.after_id, role=role
    )
    idem = key_for(principal, None, method="POST", path=path, body=None)
    reply = await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, idem)
    return _task_response(reply.body)


@router.get("/{ref}/progress")
async def progress(ref: str, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """An epic's progress over its subtasks: done/total by count and by estimate."""
    project_id, task_id = await access_task(ctx, principal, ref)
    body = await ctx.router.call(project_id, "task_progress", principal.org_id, project_id, task_id)
    return json_response(body)


@router.get("/{ref}/activity")
async def task_activity(
    ref: str,
    principal: CurrentPrincipal,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Response:
    """The task's history from the event log, oldest first, paginated."""
    project_id, task_id = await access_task(ctx, principal, ref)
    # The grain says 404 for a deleted task (its reference may still be cached).
    await ctx.router.call(project_id, "get_task_json", principal.org_id, project_id, task_id)
    after = int(decode_cursor(cursor).get("v", 0)) if cursor else 0
    async with ctx.engine.connect() as conn:
        events = await activity.task_events(
            conn,
            org_id=principal.org_id,
            project_id=project_id,
            task_id=task_id,
            after=after,
            limit=limit,
        )
    if not events and after == 0:
        # A task with no history at all was never there (or is another org's).
        raise NotFound("task not found")
    page = events[:limit]
    next_cursor = encode_cursor({"v": page[-1]["version"]}) if len(events) > limit else None
    items = [activity.activity_item(e) for e in page]
    return json_response({"items": items, "next_cursor": next_cursor})


async def _resolve(
    ctx: AppContext, principal: Principal, refs: list[str]
) -> tuple[dict[UUID, list[tuple[str, UUID]]], dict[str, dict[str, Any]]]:
    """Group the referenced tasks by project; unknown references fail with 404, tasks
    the caller may see but not change with 403."""
    by_project: dict[UUID, list[tuple[str, UUID]]] = defaultdict(list)
    failed: dict[str, dict[str, Any]] = {}
    for ref in dict.fromkeys(refs):
        try:
            project_id, task_id = await access_task(ctx, principal, ref, Action.WRITE_TASKS)
        except (NotFound, Forbidden) as error:
            failed[ref] = {"id": ref, "status": error.status, "error": error.as_json()}
            continue
        by_project[project_id].append((ref, task_id))
    return by_project, failed


@router.post("/bulk")
async def bulk(body: BulkIn, request: Request, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """Change status/assignee/labels/sprint of up to 500 tasks. Each project's part is
    one grain command committed in one transaction; `results` has one entry per
    task, in request order, with its new state or its error."""
    changes = body.changes.model_dump(exclude_unset=True, exclude={"add_labels", "remove_labels"})
    await check_people(ctx, principal, changes)
    role = await caller_role(ctx, principal)
    by_project, results = await _resolve(ctx, principal, body.task_ids)

    async def apply(project_id: UUID, items: list[tuple[str, UUID]]) -> None:
        command = BulkUpdate(
            actor_id=principal.user_id,
            task_ids=tuple(task_id for _, task_id in items),
            changes=changes,
            add_labels=tuple(body.changes.add_labels),
            remove_labels=tuple(body.changes.remove_labels),
            role=role,
        )
        idem = key_for(principal, None, method="POST", path=request.url.path, body=None)
        try:
            reply = await ctx.router.call(
                project_id, "apply", principal.org_id, project_id, command, idem
            )
        except DomainError as error:
            for ref, _ in items:
                results[ref] = {"id": ref, "status": error.status, "error": error.as_json()}
            return
        for (ref, _), result in zip(items, reply.body["results"], strict=True):
            results[ref] = {**result, "id": ref}

    await asyncio.gather(*(apply(pid, items) for pid, items in by_project.items()))
    ordered = [results[ref] for ref in dict.fromkeys(body.task_ids)]
    return json_response({"results": ordered})
