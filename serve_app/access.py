"""The access helpers: each fetches a resource *and* checks the caller may see it.

Missing and forbidden are the same `NotFound`, so nobody learns that another
organisation's resource exists. No route touches a client-supplied id without
going through one of these. Until per-project roles exist, every member of an
organisation may read and write all of its projects.
"""

from __future__ import annotations

import re
from uuid import UUID

from sqlalchemy import select

from domain.attachments import Attachment
from domain.comments import ADMIN_ROLES, Comment
from domain.errors import NotFound, Unauthenticated
from domain.projects import Project
from serve_app.context import AppContext
from serve_app.security import Principal
from storage import attachments_read, catalog, comments_read
from storage import tables as tables

_TASK_KEY = re.compile(r"^[A-Z]{2,10}-[1-9][0-9]{0,17}$")


async def caller_role(ctx: AppContext, principal: Principal) -> str:
    """The caller's organisation role, which workflow transitions may be restricted to."""
    async with ctx.engine.connect() as conn:
        role = await catalog.member_role(conn, org_id=principal.org_id, user_id=principal.user_id)
    if role is None:
        raise Unauthenticated("the token's user is no longer a member of its organisation")
    return role


async def readable_project_ids(ctx: AppContext, principal: Principal) -> list[UUID]:
    """Ids of the projects the caller may read: the one definition search, lists,
    exports and reports filter by (inside their queries, so counts never leak)."""
    async with ctx.engine.connect() as conn:
        projects = await catalog.list_projects(conn, org_id=principal.org_id)
    return [p.id for p in projects]


async def access_project(ctx: AppContext, principal: Principal, project_id: UUID) -> Project:
    async with ctx.engine.connect() as conn:
        project = await catalog.get_project(conn, org_id=principal.org_id, project_id=project_id)
    if project is None:
        raise NotFound("project not found")
    return project


def _parse_ref(ref: str) -> UUID | str:
    if _TASK_KEY.match(ref):
        return ref
    try:
        return UUID(ref)
    except ValueError:
        raise NotFound("task not found") from None


async def access_task(ctx: AppContext, principal: Principal, ref: str) -> tuple[UUID, UUID]:
    """`(project_id, task_id)` of the task `ref` (id or key) in the caller's organisation.

    The grain that owns the project checks once more that the task exists now.
    """
    cache_key = (principal.org_id, ref)
    found = ctx.task_refs.get(cache_key)
    if found is None:
        parsed = _parse_ref(ref)
        async with ctx.engine.connect() as conn:
            found = await catalog.resolve_task(conn, org_id=principal.org_id, ref=parsed)
        if found is None:
            raise NotFound("task not found")
        ctx.task_refs.put(cache_key, found)
    return found


async def access_comment(ctx: AppContext, principal: Principal, comment_id: UUID) -> Comment:
    """A live comment in the caller's organisation (another's reads as missing)."""
    async with ctx.engine.connect() as conn:
        comment = await comments_read.get_comment(
            conn, org_id=principal.org_id, comment_id=comment_id
        )
    if comment is None:
        raise NotFound("comment not found")
    return comment


async def access_attachment(
    ctx: AppContext, principal: Principal, attachment_id: UUID
) -> Attachment:
    """A live attachment in the caller's organisation (another's reads as missing)."""
    async with ctx.engine.connect() as conn:
        found = await attachments_read.get_attachment(
            conn, org_id=principal.org_id, attachment_id=attachment_id
        )
    if found is None:
        raise NotFound("attachment not found")
    return found


async def is_project_admin(ctx: AppContext, principal: Principal, project_id: UUID) -> bool:
    """An organisation owner/admin, or an admin of the project: may delete anyone's
    comments and attachments there."""
    role = await caller_role(ctx, principal)
    if role in ADMIN_ROLES:
        return True
    m = tables.project_members.c
    async with ctx.engine.connect() as conn:
        project_role = await conn.scalar(
            select(m.role).where(
                m.project_id == project_id,
                m.user_id == principal.user_id,
                m.org_id == principal.org_id,
            )
        )
    return project_role == "admin"
