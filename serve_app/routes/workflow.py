"""A project's workflow, label set and board. Reads come from the project's grain;
edits are grain commands committed like any other change (versioned, with events).
The grain is also what says a project is gone (404), so these routes check only the
caller's role, not the project row."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from actors.views import TaskQuery
from domain.commands import SetLabels, UpdateWorkflow
from domain.errors import InvalidInput
from domain.permissions import Action
from serve_app.access import authorize_project
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.idempotency import key_for
from serve_app.planning_schemas import LabelsIn, WorkflowIn
from serve_app.responses import encoded_json_response, json_response
from serve_app.routes.search import prepare_filter
from serve_app.schemas import Priority
from serve_app.security import Principal
from storage import task_filter_sql

router = APIRouter(prefix="/api/v1/projects", tags=["workflow"])


@router.get("/{project_id}/workflow")
async def get_workflow(project_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """`{version, statuses, transitions}`; a transition `from` of `*` means any status."""
    await authorize_project(ctx, principal, project_id)
    body = await ctx.router.call(project_id, "get_workflow", principal.org_id, project_id)
    return json_response(body)


@router.put("/{project_id}/workflow")
async def put_workflow(
    project_id: UUID, body: WorkflowIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Replace the workflow as a whole. Tasks of a removed status need a target in
    `moves` and are moved in the same commit; `version` (optional) must be current."""
    await authorize_project(ctx, principal, project_id, Action.MANAGE_WORKFLOW)
    command = UpdateWorkflow(
        actor_id=principal.user_id,
        workflow={"statuses": body.statuses, "transitions": body.transitions},
        moves=dict(body.moves),
        if_version=body.version,
    )
    idem = key_for(principal, None, method="PUT", path=request.url.path, body=None)
    reply = await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, idem)
    return json_response(reply.body, status=reply.status)


@router.get("/{project_id}/labels")
async def get_labels(project_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    await authorize_project(ctx, principal, project_id)
    body = await ctx.router.call(project_id, "get_labels", principal.org_id, project_id)
    return json_response(body)


@router.put("/{project_id}/labels")
async def put_labels(
    project_id: UUID, body: LabelsIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Replace the label set; a removed label is taken off its tasks in the same commit."""
    await authorize_project(ctx, principal, project_id, Action.MANAGE_WORKFLOW)
    labels = [label.model_dump() for label in body.labels]
    command = SetLabels(actor_id=principal.user_id, labels=labels)
    idem = key_for(principal, None, method="PUT", path=request.url.path, body=None)
    reply = await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, idem)
    return json_response(reply.body, status=reply.status)


@router.get("/{project_id}/board")
async def get_board(
    project_id: UUID,
    principal: CurrentPrincipal,
    ctx: Ctx,
    status: Annotated[str | None, Query(max_length=64)] = None,
    assignee_id: Annotated[str | None, Query(description="a user id, or `none`")] = None,
    priority: Priority | None = None,
    label: Annotated[str | None, Query(max_length=64)] = None,
    sprint_id: UUID | None = None,
    parent_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="cards per column")] = 200,
    filter: Annotated[
        str | None, Query(max_length=2000, description="the filter language (see docs/search.md)")
    ] = None,
) -> Response:
    """Columns in workflow order, cards in rank order, filtered like the task list.
    `filter` (e.g. `assignee:me label:backend "login page"`) narrows the cards
    further, with the same meaning as on `GET /api/v1/tasks?filter=…`."""
    await authorize_project(ctx, principal, project_id)
    assignee: UUID | None = None
    if assignee_id not in (None, "none"):
        try:
            assignee = UUID(assignee_id)
        except ValueError:
            raise InvalidInput("assignee_id must be a user id or 'none'") from None
    query = TaskQuery(
        status=status,
        assignee_id=assignee,
        unassigned=assignee_id == "none",
        priority=priority,
        label=label,
        sprint_id=sprint_id,
        parent_id=parent_id,
        ids=None if filter is None else await _matching(ctx, principal, project_id, filter),
    )
    return await board_response(ctx, principal, project_id, query, limit)


async def board_response(
    ctx: AppContext, principal: Principal, project_id: UUID, query: TaskQuery, limit: int
) -> Response:
    """The board of a project the caller was authorised to read."""
    body = await ctx.router.call(
        project_id, "board_json", principal.org_id, project_id, query, limit
    )
    return encoded_json_response(body)


async def _matching(
    ctx: AppContext, principal: Principal, project_id: UUID, text: str
) -> frozenset[UUID]:
    """The project's tasks a filter-language query matches, answered by PostgreSQL
    like the filtered task list (comment text and attachments included)."""
    prepared = await prepare_filter(ctx, principal, {"filter": text}, project_id=project_id)
    async with ctx.engine.connect() as conn:
        return await task_filter_sql.matching_ids(
            conn,
            org_id=principal.org_id,
            project_id=project_id,
            pred=prepared.predicate,
            categories=prepared.facts.categories,
        )
