"""`/api/v1/projects/{id}/fields`: a project's custom field definitions.

Reading needs access to the project; changing needs a project (or
organisation) admin. Changes go through the project's grain, so a deleted
field's values leave every task in the same commit.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import Field

from domain.commands import CreateField, DeleteField, UpdateField
from domain.custom_fields import FieldType
from domain.errors import Forbidden
from serve_app.access import access_project, is_project_admin
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.responses import json_response
from serve_app.schemas import Strict
from serve_app.security import Principal

router = APIRouter(prefix="/api/v1/projects/{project_id}/fields", tags=["custom fields"])


class OptionIn(Strict):
    id: str | None = Field(default=None, description="keep an existing option (rename it)")
    name: str = Field(min_length=1, max_length=64)
    color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")


class FieldIn(Strict):
    name: str = Field(min_length=1, max_length=64)
    type: FieldType
    required: bool = False
    default: Any = None
    options: list[OptionIn] | None = Field(default=None, max_length=100)
    show_on_card: bool = False


class FieldPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    required: bool | None = None
    default: Any = None
    options: list[OptionIn] | None = Field(default=None, max_length=100)
    show_on_card: bool | None = None


async def _admin(ctx: AppContext, principal: Principal, project_id: UUID) -> None:
    await access_project(ctx, principal, project_id)
    if not await is_project_admin(ctx, principal, project_id):
        raise Forbidden("managing custom fields needs an admin of the project")


@router.get("")
async def list_fields(project_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """The project's fields in display order."""
    project = await access_project(ctx, principal, project_id)
    return json_response({"items": [f.as_json() for f in project.fields]})


@router.post("", status_code=201)
async def create_field(
    project_id: UUID, body: FieldIn, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Add a field (at most 200 per project). Options of select fields are names or
    `{name, color}`; `default` is checked like any value."""
    await _admin(ctx, principal, project_id)
    definition = body.model_dump(mode="json", exclude_none=True)
    if body.options is not None:
        definition["options"] = [o.model_dump(exclude_none=True) for o in body.options]
    command = CreateField(principal.user_id, definition)
    reply = await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, None)
    return json_response(reply.body, status=201)


@router.patch("/{field_id}")
async def update_field(
    project_id: UUID, field_id: str, body: FieldPatch, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Rename a field or its options, change `required`, `default`, `show_on_card`,
    or the options (list them all; an option left out is removed and its values
    cleared). No task row changes for a rename."""
    await _admin(ctx, principal, project_id)
    changes = body.model_dump(mode="json", exclude_unset=True)
    if body.options is not None:
        changes["options"] = [o.model_dump(exclude_none=True) for o in body.options]
    command = UpdateField(principal.user_id, field_id, changes)
    reply = await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, None)
    return json_response(reply.body)


@router.delete("/{field_id}", status_code=204)
async def delete_field(
    project_id: UUID, field_id: str, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Delete a field and, in the same commit, its values on every task."""
    await _admin(ctx, principal, project_id)
    command = DeleteField(principal.user_id, field_id)
    await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, None)
    return Response(status_code=204)
