"""`/api/v1/views`: saved views (a name and a filter), private or shared.

A view is `private` (its owner only), shared with a `project` (everyone who may
read the project) or with a `team` (its members). Everyone who sees a view may
use it; only its owner changes or deletes it (403 for the others, 404 for those
who cannot see it). The query is checked by the filter parser (400 with the
position of a mistake) and stored as printed canonically.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import Field, StringConstraints

from domain.errors import Forbidden, InvalidInput, NotFound
from domain.filters import print_query
from serve_app.access import readable_project_ids
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.responses import json_response
from serve_app.routes.search import parse_param
from serve_app.schemas import Strict
from serve_app.security import Principal
from storage import views
from storage.views import SavedView

router = APIRouter(prefix="/api/v1/views", tags=["views"])

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Visibility = Literal["private", "project", "team"]


class ViewIn(Strict):
    name: Name
    query: str = Field(max_length=2000)
    visibility: Visibility = "private"
    project_id: UUID | None = None
    team_id: UUID | None = None


class ViewPatch(Strict):
    name: Name | None = None
    query: str | None = Field(default=None, max_length=2000)
    visibility: Visibility | None = None
    project_id: UUID | None = None
    team_id: UUID | None = None


async def _viewer(ctx: AppContext, principal: Principal) -> tuple[list[UUID], list[UUID]]:
    readable = await readable_project_ids(ctx, principal)
    async with ctx.engine.connect() as conn:
        teams = await views.user_teams(conn, org_id=principal.org_id, user_id=principal.user_id)
    return readable, teams


async def _check_sharing(
    ctx: AppContext,
    principal: Principal,
    visibility: str,
    project_id: UUID | None,
    team_id: UUID | None,
    readable: list[UUID],
) -> dict[str, UUID | None]:
    if visibility == "project":
        if project_id is None or project_id not in readable:
            raise InvalidInput.field(
                "project_id", "a view shared with a project names one you can read"
            )
        return {"project_id": project_id, "team_id": None}
    if visibility == "team":
        async with ctx.engine.connect() as conn:
            exists = team_id is not None and await views.team_exists(
                conn, org_id=principal.org_id, team_id=team_id
            )
        if not exists:
            raise InvalidInput.field(
                "team_id", "a view shared with a team names one of this organisation"
            )
        return {"project_id": None, "team_id": team_id}
    return {"project_id": None, "team_id": None}


async def _access_view(
    ctx: AppContext, principal: Principal, view_id: UUID
) -> tuple[SavedView, list[UUID]]:
    readable, teams = await _viewer(ctx, principal)
    async with ctx.engine.connect() as conn:
        found = await views.get_view(
            conn,
            org_id=principal.org_id,
            view_id=view_id,
            user_id=principal.user_id,
            readable=readable,
            teams=teams,
        )
    if found is None:
        raise NotFound("view not found")
    return found, readable


@router.post("", status_code=201)
async def create_view(body: ViewIn, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    query = print_query(parse_param("query", body.query))
    readable, _ = await _viewer(ctx, principal)
    sharing = await _check_sharing(
        ctx, principal, body.visibility, body.project_id, body.team_id, readable
    )
    async with ctx.engine.begin() as conn:
        view = await views.insert_view(
            conn,
            org_id=principal.org_id,
            owner_id=principal.user_id,
            name=body.name,
            query=query,
            visibility=body.visibility,
            **sharing,
        )
    return json_response(
        view.as_json(), status=201, headers={"Location": f"/api/v1/views/{view.id}"}
    )


@router.get("")
async def list_views(principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """The caller's own views and those shared with a project or team they belong to."""
    readable, teams = await _viewer(ctx, principal)
    async with ctx.engine.connect() as conn:
        found = await views.list_views(
            conn, org_id=principal.org_id, user_id=principal.user_id, readable=readable, teams=teams
        )
    return json_response({"items": [v.as_json() for v in found]})


@router.get("/{view_id}")
async def get_view(view_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    view, _ = await _access_view(ctx, principal, view_id)
    return json_response(view.as_json())


@router.patch("/{view_id}")
async def update_view(
    view_id: UUID, body: ViewPatch, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    view, readable = await _access_view(ctx, principal, view_id)
    if view.owner_id != principal.user_id:
        raise Forbidden("only the owner of a view may change it")
    changes = body.model_dump(exclude_unset=True)
    fields: dict[str, object] = {}
    if changes.get("name") is not None:
        fields["name"] = changes["name"]
    if changes.get("query") is not None:
        fields["query"] = print_query(parse_param("query", changes["query"]))
    if {"visibility", "project_id", "team_id"} & changes.keys():
        visibility = changes.get("visibility") or view.visibility
        fields["visibility"] = visibility
        fields.update(
            await _check_sharing(
                ctx,
                principal,
                visibility,
                changes.get("project_id", view.project_id),
                changes.get("team_id", view.team_id),
                readable,
            )
        )
    if not fields:
        return json_response(view.as_json())
    async with ctx.engine.begin() as conn:
        updated = await views.update_view(conn, view_id=view.id, **fields)
    return json_response(updated.as_json())


@router.delete("/{view_id}", status_code=204)
async def delete_view(view_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    view, _ = await _access_view(ctx, principal, view_id)
    if view.owner_id != principal.user_id:
        raise Forbidden("only the owner of a view may delete it")
    async with ctx.engine.begin() as conn:
        await views.delete_view(conn, view_id=view.id)
    return Response(status_code=204)
