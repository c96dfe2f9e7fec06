"""Projects: list and create (catalogue), read, and change or delete via the grain."""

from __future__ import annotations

import dataclasses
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import projects as rules
from domain.commands import DeleteProject, UpdateProject
from domain.errors import Conflict, InvalidInput
from domain.permissions import Action, OrgAction, Visibility, effective_role
from domain.projects import Project
from domain.workflow_templates import template
from serve_app.access import (
    access_project,
    forget_project,
    grants_of,
    require_org,
)
from serve_app.client_address import caller_ip
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.idempotency import key_for
from serve_app.responses import json_response
from serve_app.schemas import ProjectIn, ProjectList, ProjectOut, ProjectPatch
from serve_app.security import Principal
from storage import accounts, catalog, idempotency, memberships

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


async def _check_teams(ctx: AppContext, principal: Principal, team_ids: list[UUID]) -> None:
    async with ctx.reads.connect() as conn:
        known = await catalog.existing_teams(conn, org_id=principal.org_id, team_ids=team_ids)
    missing = [t for t in team_ids if t not in known]
    if missing:
        raise InvalidInput.field("team_ids", f"no team {missing[0]} in this organisation")


@router.get("", response_model=ProjectList)
async def list_projects(principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """The projects the caller may read (see docs/permissions.md)."""
    grants = await grants_of(ctx, principal)
    async with ctx.reads.connect() as conn:
        found = await catalog.list_projects(conn, org_id=principal.org_id)
        facts = {
            f.id: f for f in await memberships.org_project_facts(conn, org_id=principal.org_id)
        }
    items = [
        {**p.as_json(), "visibility": facts[p.id].visibility.value}
        for p in found
        if p.id in facts and effective_role(grants, facts[p.id]) is not None
    ]
    return json_response({"items": items})


async def _out(ctx: AppContext, principal: Principal, project: Project) -> dict[str, object]:
    """The project's JSON with its visibility (kept outside the grain's state)."""
    async with ctx.reads.connect() as conn:
        found = await memberships.visibilities(
            conn, org_id=principal.org_id, project_ids=[project.id]
        )
    return {**project.as_json(), "visibility": found.get(project.id, Visibility.ORG.value)}


@router.post("", status_code=201, response_model=ProjectOut)
async def create_project(
    body: ProjectIn,
    request: Request,
    principal: CurrentPrincipal,
    ctx: Ctx,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Create a project. Its key is derived from the name when absent; a key that is
    taken gives 409 when the client chose it, and the next free variant otherwise.
    Guests may not create projects; the creator is the project's admin."""
    await require_org(ctx, principal, OrgAction.CREATE_PROJECT)
    settings = rules.check_settings(body.settings)
    await _check_teams(ctx, principal, body.team_ids)
    name = rules.check_name(body.name)
    time_zone = rules.check_time_zone(body.time_zone)
    idem = key_for(
        principal,
        idempotency_key,
        method="POST",
        path="/api/v1/projects",
        body=body.model_dump(mode="json"),
    )
    project = Project(
        id=uuid4(),
        org_id=principal.org_id,
        key=body.key or rules.derive_key(name),
        name=name,
        description=body.description,
        owner_id=principal.user_id,
        team_ids=tuple(dict.fromkeys(body.team_ids)),
        settings=settings,
        created_at=None,  # type: ignore[arg-type]  # set by the database
        workflow=template(body.workflow_template),
        time_zone=time_zone,
    )
    async with ctx.engine.begin() as conn:
        replay = await idempotency.stored_reply(conn, idem)
        if replay is not None:
            return json_response(replay.body, status=replay.status, headers=_location(replay.body))
        if body.key is None:
            project = await _free_key(conn, project)
        try:
            async with conn.begin_nested():
                created = await catalog.insert_project(conn, project)
        except IntegrityError:
            raise Conflict(
                f"project key {project.key} is already used in this organisation"
            ) from None
        if body.visibility != Visibility.ORG.value:
            await memberships.set_visibility(
                conn,
                org_id=principal.org_id,
                project_id=created.id,
                visibility=Visibility(body.visibility),
            )
        out = {**created.as_json(), "visibility": body.visibility}
        try:
            await idempotency.store_reply(conn, idem, status=201, body=out)
        except IntegrityError:
            raise Conflict("a request with this Idempotency-Key is in progress; retry") from None
        await accounts.audit(
            conn,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action="project.created",
            target_type="project",
            target_id=str(created.id),
            client_ip=caller_ip(request),
        )
    return json_response(out, status=201, headers=_location(out))


def _location(body: dict[str, object] | None) -> dict[str, str]:
    return {"Location": f"/api/v1/projects/{body['id']}"} if body else {}


async def _free_key(conn: AsyncConnection, project: Project) -> Project:
    base = project.key
    candidates = [base] + [(base + chr(c))[:10] for c in range(ord("A"), ord("Z") + 1)]
    for key in candidates:
        if not await catalog.key_taken(conn, org_id=project.org_id, key=key):
            return dataclasses.replace(project, key=key)
    raise Conflict(f"no free project key derived from {base}; choose one")


@router.get("/{project_id}", response_model=ProjectOut)
async def get_project(project_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    project = await access_project(ctx, principal, project_id)
    return json_response(await _out(ctx, principal, project))


@router.patch("/{project_id}", response_model=ProjectOut)
async def update_project(
    project_id: UUID, body: ProjectPatch, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Change name, description, settings, teams or visibility (project admins)."""
    project = await access_project(ctx, principal, project_id, Action.MANAGE_SETTINGS)
    changes = body.model_dump(exclude_unset=True)
    visibility = changes.pop("visibility", None)
    if "visibility" in body.model_fields_set and visibility is None:
        raise InvalidInput.field("visibility", "may not be null")
    if visibility is not None:
        await _set_visibility(ctx, principal, project_id, Visibility(visibility), request)
    if not changes:
        return json_response(await _out(ctx, principal, project))
    for field in ("name", "settings", "team_ids", "time_zone"):
        if field in changes and changes[field] is None:
            raise InvalidInput.field(field, "may not be null")
    if changes.get("team_ids"):
        await _check_teams(ctx, principal, changes["team_ids"])
    command = UpdateProject(actor_id=principal.user_id, changes=changes)
    idem = key_for(
        principal, None, method="PATCH", path=f"/api/v1/projects/{project_id}", body=None
    )
    reply = await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, idem)
    body_out = dict(reply.body)
    body_out["visibility"] = (await _out(ctx, principal, project))["visibility"]
    return json_response(body_out, status=reply.status)


async def _set_visibility(
    ctx: AppContext,
    principal: Principal,
    project_id: UUID,
    visibility: Visibility,
    request: Request,
) -> None:
    async with ctx.engine.begin() as conn:
        await memberships.set_visibility(
            conn, org_id=principal.org_id, project_id=project_id, visibility=visibility
        )
        await accounts.audit(
            conn,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action="project.visibility_changed",
            target_type="project",
            target_id=str(project_id),
            client_ip=caller_ip(request),
            details={"visibility": visibility.value},
        )
    forget_project(ctx, principal.org_id, project_id)


@router.delete("/{project_id}", status_code=204)
async def delete_project(project_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    await access_project(ctx, principal, project_id, Action.DELETE_PROJECT)
    idem = key_for(
        principal, None, method="DELETE", path=f"/api/v1/projects/{project_id}", body=None
    )
    command = DeleteProject(actor_id=principal.user_id)
    await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, idem)
    forget_project(ctx, principal.org_id, project_id)
    return Response(status_code=204)
