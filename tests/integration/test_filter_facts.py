"""What a filter reads before it runs: plain free text over the index reads no
project, member or sprint; a filter that names them still resolves them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cluster.stack import Stack
from domain.filters.predicates import AnyOf, CustomIs, Match, Words
from serve_app.access import readable_project_ids
from serve_app.context import AppContext
from serve_app.routes.search import prepare_filter
from tests.integration.conftest import User, create_project, local_context, statements_sent


@pytest.fixture
async def ctx(stack: Stack, database_url: str) -> AsyncIterator[AppContext]:
    async with local_context(database_url) as ctx:
        yield ctx


async def test_free_text_search_reads_only_the_readable_projects(
    ctx: AppContext, client: httpx.AsyncClient, alice: User
) -> None:
    await create_project(client, alice)
    who = alice.principal
    await readable_project_ids(ctx, who)  # the caller's grants, cached from here on
    seen = statements_sent(ctx.engine)
    await readable_project_ids(ctx, who)
    readable_only = list(seen)
    seen.clear()

    for q, filters in [("login bug", ""), ('"login page" -crash', "label:x priority:>=high")]:
        prepared = await prepare_filter(ctx, who, {"q": q, "filters": filters}, index=True)
        assert prepared.project_ids
        assert seen == readable_only, seen
        seen.clear()

    # The task list runs free text in SQL, where text custom fields count: one read.
    prepared = await prepare_filter(ctx, who, {"filter": "login"})
    assert isinstance(prepared.predicate, Words)
    extra = seen[len(readable_only) :]
    assert len(extra) == 1 and "custom_fields" in extra[0], extra
    assert not any("sprints" in s or "org_members" in s for s in seen)


async def test_filters_that_name_things_still_resolve(
    ctx: AppContext, client: httpx.AsyncClient, alice: User
) -> None:
    project = await create_project(client, alice)
    pid = project["id"]
    base = f"/api/v1/projects/{pid}/sprints"
    sprint = (await client.post(base, json={"name": "S1"}, headers=alice.headers)).json()
    r = await client.post(f"{base}/{sprint['id']}/start", headers=alice.headers)
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/v1/projects/{pid}/fields",
        json={"name": "Owner", "type": "user"},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    owner_field = r.json()["id"]
    who = alice.principal

    async def resolved(text: str, *, index: bool) -> Any:
        return (await prepare_filter(ctx, who, {"filter": text}, index=index)).predicate

    for index in (True, False):
        assert await resolved(f"project:{project['key']}", index=index) == Match(
            "project", frozenset({pid})
        )
        assert await resolved("sprint:current", index=index) == Match(
            "sprint", frozenset({sprint["id"]})
        )
        assert await resolved(f"assignee:{alice.email}", index=index) == Match(
            "assignee", frozenset({alice.id})
        )
        assert await resolved(f"cf.Owner:{alice.email}", index=index) == CustomIs(
            owner_field, frozenset({alice.id})
        )
        status = await resolved("status:open", index=index)
        assert isinstance(status, AnyOf)
    prepared = await prepare_filter(ctx, who, {"filter": "status:open"})
    assert set(prepared.facts.categories) == {uuid.UUID(pid)}
