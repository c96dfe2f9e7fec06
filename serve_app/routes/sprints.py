"""Sprints of a project: list, create, edit, change scope, start and complete. All
writes are commands to the project's grain."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from domain.commands import (
    Command,
    CompleteSprint,
    CreateSprint,
    SprintScope,
    StartSprint,
    UpdateSprint,
)
from domain.permissions import Action
from serve_app.access import access_project
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.idempotency import key_for
from serve_app.planning_schemas import SprintCompleteIn, SprintIn, SprintPatch, SprintScopeIn
from serve_app.responses import json_response
from serve_app.security import Principal

router = APIRouter(prefix="/api/v1/projects/{project_id}/sprints", tags=["sprints"])


async def _apply(
    ctx: AppContext,
    principal: Principal,
    project_id: UUID,
    request: Request,
    command: Command,
    body: Any = None,
    header: str | None = None,
) -> Response:
    await access_project(ctx, principal, project_id, Action.PLAN_SPRINTS)
    idem = key_for(principal, header, method=request.method, path=request.url.path, body=body)
    reply = await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, idem)
    return json_response(reply.body, status=reply.status)


@router.get("")
async def list_sprints(project_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """Every sprint of the project, oldest first, with task counts and points."""
    await access_project(ctx, principal, project_id)
    items = await ctx.router.call(project_id, "list_sprints", principal.org_id, project_id)
    return json_response({"items": items})


@router.post("", status_code=201)
async def create_sprint(
    project_id: UUID, body: SprintIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    command = CreateSprint(principal.user_id, body.model_dump())
    return await _apply(
        ctx,
        principal,
        project_id,
        request,
        command,
        body.model_dump(mode="json"),
        request.headers.get("idempotency-key"),
    )


@router.patch("/{sprint_id}")
async def update_sprint(
    project_id: UUID,
    sprint_id: UUID,
    body: SprintPatch,
    request: Request,
    principal: CurrentPrincipal,
    ctx: Ctx,
) -> Response:
    command = UpdateSprint(principal.user_id, sprint_id, body.model_dump(exclude_unset=True))
    return await _apply(ctx, principal, project_id, request, command)


@router.post("/{sprint_id}/tasks")
async def change_scope(
    project_id: UUID,
    sprint_id: UUID,
    body: SprintScopeIn,
    request: Request,
    principal: CurrentPrincipal,
    ctx: Ctx,
) -> Response:
    """Add tasks to and remove tasks from the sprint (all or nothing)."""
    command = SprintScope(principal.user_id, sprint_id, tuple(body.add), tuple(body.remove))
    return await _apply(ctx, principal, project_id, request, command)


@router.post("/{sprint_id}/start")
async def start_sprint(
    project_id: UUID, sprint_id: UUID, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Start a planned sprint; 409 if another is active and parallel sprints are off."""
    return await _apply(
        ctx, principal, project_id, request, StartSprint(principal.user_id, sprint_id)
    )


@router.post("/{sprint_id}/complete")
async def complete_sprint(
    project_id: UUID,
    sprint_id: UUID,
    body: SprintCompleteIn,
    request: Request,
    principal: CurrentPrincipal,
    ctx: Ctx,
) -> Response:
    """Complete the active sprint; unfinished tasks go to `move_to`."""
    command = CompleteSprint(principal.user_id, sprint_id, body.move_to)
    return await _apply(ctx, principal, project_id, request, command)
