"""The access check's per-replica cache: repeated checks cost no query, a change made
on this replica applies at once (`forget_*`), and the cache is bounded in time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cluster.stack import Stack
from domain.errors import NotFound
from domain.permissions import Action, ProjectRole
from serve_app import access
from serve_app.context import AppContext
from tests.integration.conftest import (
    User,
    create_project,
    local_context,
    statements_sent,
)
from tests.integration.identity_helpers import with_role

TTL_S = 0.5


@pytest.fixture
async def ctx(stack: Stack, database_url: str) -> AsyncIterator[AppContext]:
    async with local_context(database_url, auth_cache_s=TTL_S) as ctx:
        yield ctx


async def test_repeated_checks_cost_no_query(
    ctx: AppContext, client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    bob = await with_role(client, db, alice, "member")
    project = uuid.UUID((await create_project(client, alice))["id"])
    queries = statements_sent(ctx.engine)
    who = bob.principal
    assert await access.authorize_project(ctx, who, project) == ProjectRole.MEMBER
    first = len(queries)
    assert first == 2  # the project's facts and the caller's grants, once each
    for _ in range(20):
        await access.authorize_project(ctx, who, project, Action.WRITE_TASKS)
        await access.caller_role(ctx, who)
    assert len(queries) == first


async def test_a_local_change_applies_at_once_and_others_within_the_ttl(
    ctx: AppContext, client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    guest = await with_role(client, db, alice, "guest")
    project = uuid.UUID((await create_project(client, alice))["id"])
    who = guest.principal
    with pytest.raises(NotFound):
        await access.authorize_project(ctx, who, project)
    await db.execute(
        "INSERT INTO project_members (org_id, project_id, user_id, role) "
        "VALUES ($1, $2, $3, 'viewer')",
        uuid.UUID(alice.org_id),
        project,
        uuid.UUID(guest.id),
    )
    # A change made elsewhere: this replica still answers from its cache...
    with pytest.raises(NotFound):
        await access.authorize_project(ctx, who, project)
    # ...for at most the TTL.
    await asyncio.sleep(TTL_S + 0.1)
    assert await access.authorize_project(ctx, who, project) == ProjectRole.VIEWER
    # A change made here is forgotten at once.
    await db.execute("DELETE FROM project_members WHERE project_id = $1", project)
    access.forget_org(ctx, uuid.UUID(alice.org_id))
    with pytest.raises(NotFound):
        await access.authorize_project(ctx, who, project)
