"""The access helpers: each fetches a resource *and* checks the caller may use it,
by the one permission matrix in `domain.permissions`.

Missing and not visible are the same `NotFound`, so nobody learns that another
organisation's (or a private) project or its tasks exist. Visible but not allowed
(a viewer writing, a member changing the workflow) is `Forbidden`. No route
touches a client-supplied id without going through one of these.

**Caching.** A caller's grants (organisation role, project roles direct and
through teams) and a project's owner and visibility are cached per replica for
`auth_cache_s` seconds (`TASKHIVE_AUTH_CACHE_S`), the same bound as
`serve_app.authn`: a role change, removal or visibility change takes effect on
the replica that made it at once (the routes call `forget_*`) and on every other
replica within `auth_cache_s`. In exchange, checking a task or project read
costs no query in the steady state. The organisation's list of projects with
their owners and visibility (`readable_project_ids`) is kept per replica too,
but checked on every use against the organisation's catalog version, which a
trigger bumps with any change to it (migration 0016): never stale, one indexed
read instead of every project. A project's facts missing from their own cache
come from that list when its version was read within `auth_cache_s` (the same
bound), so with many projects a replica does not read them one by one; a
project the list does not hold (created since) is read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from uuid import UUID

from domain.attachments import Attachment
from domain.comments import Comment
from domain.errors import Forbidden, NotFound, Unauthenticated
from domain.permissions import (
    Action,
    Grants,
    OrgAction,
    OrgProjects,
    OrgRole,
    ProjectFacts,
    ProjectRole,
    Readable,
    allows,
    effective_role,
    org_allows,
    readable_split,
)
from domain.projects import Project
from serve_app.authn import TtlCache
from serve_app.context import AppContext
from serve_app.security import Principal
from storage import attachments_read, catalog, comments_read, memberships
from storage.db import driver_connection

#: Organisations whose project facts a replica keeps (oldest dropped first).
ORG_PROJECTS_CACHED = 1_000

_TASK_KEY = re.compile(r"^[A-Z]{2,10}-[1-9][0-9]{0,17}$")


class AccessCache:
    """Per-replica grants and project facts; see the module docstring for staleness."""

    def __init__(self, ttl_s: float) -> None:
        self.grants: TtlCache[tuple[UUID, UUID], Grants] = TtlCache(ttl_s)
        self.projects: TtlCache[tuple[UUID, UUID], ProjectFacts | None] = TtlCache(ttl_s)
        #: Per organisation: (catalog version, its live projects, when (monotonic)
        #: that version was last read).
        self.org_projects: dict[UUID, tuple[int, OrgProjects, float]] = {}
        self.ttl_s = ttl_s


_caches: dict[int, AccessCache] = {}


def _cache(ctx: AppContext) -> AccessCache:
    # One context per replica process; a new context (tests) starts a new cache.
    found = _caches.get(id(ctx))
    if found is None:
        _caches.clear()
        found = _caches[id(ctx)] = AccessCache(ctx.config.auth_cache_s)
    return found


def forget_org(ctx: AppContext, org_id: UUID) -> None:
    """Drop this replica's cached grants of everyone in the organisation (after a
    role, team or project-membership change)."""
    _cache(ctx).grants.discard_where(lambda key: key[0] == org_id)


def forget_project(ctx: AppContext, org_id: UUID, project_id: UUID) -> None:
    """Drop this replica's cached facts of the project (visibility change, deletion),
    and its organisation's list of projects (checked again on its next use)."""
    caches = _cache(ctx)
    caches.projects.discard((org_id, project_id))
    caches.org_projects.pop(org_id, None)


async def grants_of(ctx: AppContext, principal: Principal) -> Grants:
    """The caller's grants in the token's organisation (cached, see above)."""
    return await _grants(ctx, principal.org_id, principal.user_id)


async def _grants(ctx: AppContext, org_id: UUID, user_id: UUID) -> Grants:
    async def load() -> Grants:
        async with ctx.reads.connect() as conn:
            return await memberships.load_grants(conn, org_id=org_id, user_id=user_id)

    return await _cache(ctx).grants.get((org_id, user_id), load)


async def _project_facts(ctx: AppContext, org_id: UUID, project_id: UUID) -> ProjectFacts | None:
    key = (org_id, project_id)
    caches = _cache(ctx)
    cache = caches.projects
    cached = cache.lookup(key)
    if cached is not None:
        return cached[0]
    # The organisation's projects, if their catalog version was read within the
    # same bound: searches, lists and the inbox read it on every request. A
    # project not in that list may be newer than it: read it.
    listed = caches.org_projects.get(org_id)
    if listed is not None and time.monotonic() - listed[2] < caches.ttl_s:
        found = listed[1].by_id.get(project_id)
        if found is not None:
            return found

    async def load() -> ProjectFacts | None:
        async with ctx.reads.connect() as conn:
            return await memberships.project_facts(conn, org_id=org_id, project_id=project_id)

    return await cache.get(key, load)


async def org_role(ctx: AppContext, principal: Principal) -> OrgRole:
    """The caller's organisation role; 401 if they are no longer a member."""
    role = (await grants_of(ctx, principal)).org_role
    if role is None:
        raise Unauthenticated("the token's user is no longer a member of its organisation")
    return role


async def caller_role(ctx: AppContext, principal: Principal) -> str:
    """The caller's organisation role, which workflow transitions may be restricted to."""
    return (await org_role(ctx, principal)).value


async def require_org(ctx: AppContext, principal: Principal, action: OrgAction) -> OrgRole:
    """The caller's organisation role, which must allow `action` (403 otherwise)."""
    role = await org_role(ctx, principal)
    if not org_allows(role, action):
        raise Forbidden(f"an organisation {role.value} may not {action.value}")
    return role


async def project_role(
    ctx: AppContext, principal: Principal, project_id: UUID
) -> ProjectRole | None:
    """The caller's effective role in the project; None if they may not see it (or
    it does not exist in their organisation)."""
    facts = await _project_facts(ctx, principal.org_id, project_id)
    if facts is None:
        return None
    return effective_role(await grants_of(ctx, principal), facts)


async def authorize_project(
    ctx: AppContext, principal: Principal, project_id: UUID, action: Action = Action.READ
) -> ProjectRole:
    """The caller's role in the project, which must allow `action`: 404 when the
    project is not visible to them, 403 when visible but not allowed."""
    role = await project_role(ctx, principal, project_id)
    if role is None:
        raise NotFound("project not found")
    if not allows(role, action):
        raise Forbidden(f"a project {role.value} may not {action.value}")
    return role


async def may(ctx: AppContext, principal: Principal, project_id: UUID, action: Action) -> bool:
    """Whether the caller may take `action` in the project (no error either way)."""
    return allows(await project_role(ctx, principal, project_id), action)


async def readable_project_ids(ctx: AppContext, principal: Principal) -> list[UUID]:
    """Ids of the projects the caller may read: the one definition search, lists,
    exports and reports filter by (inside their queries, so counts never leak)."""
    return (await readable_projects(ctx, principal)).ids


async def readable_projects(ctx: AppContext, principal: Principal) -> Readable:
    """The projects the caller may read, as ids and as text, and the others."""
    grants = await grants_of(ctx, principal)
    return readable_split(grants, await _org_projects(ctx, principal.org_id))


async def unreadable_project_ids(ctx: AppContext, principal: Principal) -> list[UUID]:
    """Ids of the organisation's projects the caller may not read (usually none):
    what the inbox hides notifications of, once someone lost access."""
    return (await readable_projects(ctx, principal)).hidden


async def _org_projects(ctx: AppContext, org_id: UUID) -> OrgProjects:
    """Owner and visibility of the organisation's live projects, cached per replica
    and checked against the org's catalog version on every call: one indexed row
    read instead of every project, and never stale (the version is read first, so
    a list read after a change is at least as new as the version it is kept with)."""
    cache = _cache(ctx).org_projects
    async with driver_connection(ctx.engine) as driver:
        version = await memberships.catalog_version(driver, org_id=org_id)
    read_at = time.monotonic()
    cached = cache.get(org_id)
    if version is not None and cached is not None and cached[0] == version:
        cache[org_id] = (version, cached[1], read_at)
        return cached[1]
    async with ctx.reads.connect() as conn:
        projects = OrgProjects.of(await memberships.org_project_facts(conn, org_id=org_id))
    if version is not None:
        cache[org_id] = (version, projects, read_at)
        while len(cache) > ORG_PROJECTS_CACHED:
            del cache[next(iter(cache))]
    return projects


async def project_readers(
    ctx: AppContext, org_id: UUID, project_id: UUID, user_ids: Collection[UUID]
) -> set[UUID]:
    """Those of `user_ids` who may read the project (by the same matrix and cache as
    callers): who a user-type custom field may name."""
    facts = await _project_facts(ctx, org_id, project_id)
    if facts is None:
        return set()
    return {
        u
        for u in user_ids
        if allows(effective_role(await _grants(ctx, org_id, u), facts), Action.READ)
    }


async def access_project(
    ctx: AppContext, principal: Principal, project_id: UUID, action: Action = Action.READ
) -> Project:
    """The project, which the caller may see and take `action` in (404 / 403)."""
    await authorize_project(ctx, principal, project_id, action)
    async with ctx.reads.connect() as conn:
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


async def access_task(
    ctx: AppContext, principal: Principal, ref: str, action: Action = Action.READ
) -> tuple[UUID, UUID]:
    """`(project_id, task_id)` of the task `ref` (id or key) in a project the caller
    may see and take `action` in.

    The grain that owns the project checks once more that the task exists now.
    """
    cache_key = (principal.org_id, ref)
    found = ctx.task_refs.get(cache_key)
    if found is None:
        parsed = _parse_ref(ref)
        if isinstance(parsed, UUID):  # most requests: batched with other misses
            found = await ctx.task_resolver.resolve(principal.org_id, parsed)
        else:
            async with driver_connection(ctx.engine) as conn:
                found = await catalog.resolve_task_key(conn, org_id=principal.org_id, key=parsed)
        if found is None:
            raise NotFound("task not found")
        ctx.task_refs.put(cache_key, found)
    try:
        await authorize_project(ctx, principal, found[0], action)
    except NotFound:
        raise NotFound("task not found") from None
    return found


async def access_comment(
    ctx: AppContext, principal: Principal, comment_id: UUID, action: Action = Action.READ
) -> Comment:
    """A live comment in a project the caller may see and take `action` in."""
    async with ctx.reads.connect() as conn:
        comment = await comments_read.get_comment(
            conn, org_id=principal.org_id, comment_id=comment_id
        )
    if comment is None:
        raise NotFound("comment not found")
    try:
        await authorize_project(ctx, principal, comment.project_id, action)
    except NotFound:
        raise NotFound("comment not found") from None
    return comment


async def access_attachment(
    ctx: AppContext, principal: Principal, attachment_id: UUID, action: Action = Action.READ
) -> Attachment:
    """A live attachment in a project the caller may see and take `action` in."""
    async with ctx.reads.connect() as conn:
        found = await attachments_read.get_attachment(
            conn, org_id=principal.org_id, attachment_id=attachment_id
        )
    if found is None:
        raise NotFound("attachment not found")
    try:
        await authorize_project(ctx, principal, found.project_id, action)
    except NotFound:
        raise NotFound("attachment not found") from None
    return found


async def is_project_admin(ctx: AppContext, principal: Principal, project_id: UUID) -> bool:
    """May the caller delete anyone's comments and attachments in the project?"""
    return await may(ctx, principal, project_id, Action.MODERATE)
