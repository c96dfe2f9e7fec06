"""A replica keeps its organisation's project facts (who may see which project)
and checks one number, the org's catalog version, on each use: a change made
anywhere shows at once, and a task write (which touches its project's row) does
not make the replica read every project again."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx

from domain.permissions import Visibility
from serve_app import access
from storage.db import autocommit, create_engine
from tests.integration.conftest import User, create_project, create_task


async def test_org_project_facts_follow_the_catalog_version(
    client: httpx.AsyncClient,
    alice: User,
    project: dict[str, Any],
    database_url: str,
    db: asyncpg.Connection,
) -> None:
    engine = create_engine(database_url, pool_size=2)
    ctx = SimpleNamespace(
        engine=engine, reads=autocommit(engine), config=SimpleNamespace(auth_cache_s=60.0)
    )
    org, pid = uuid.UUID(alice.org_id), uuid.UUID(project["id"])

    async def facts() -> Any:
        return (await access._org_projects(ctx, org)).facts  # type: ignore[arg-type]

    try:
        first = await facts()
        assert pid in {p.id for p in first}
        assert await facts() is first, "nothing changed: the cached projects are kept"

        await create_task(client, alice, project["id"])  # bumps the project's version
        await db.execute("UPDATE projects SET name = 'Renamed' WHERE id = $1", pid)
        assert await facts() is first, "changes that decide nobody's access keep it too"

        # Changed elsewhere (here straight in the database, as another replica would).
        await db.execute("UPDATE projects SET visibility = 'private' WHERE id = $1", pid)
        changed = await facts()
        assert changed is not first
        assert next(p for p in changed if p.id == pid).visibility is Visibility.PRIVATE

        other = await create_project(client, alice)
        other_id = uuid.UUID(other["id"])
        assert other_id in {p.id for p in await facts()}
        await db.execute("UPDATE projects SET deleted_at = now() WHERE id = $1", other_id)
        assert other_id not in {p.id for p in await facts()}

        assert (await access._org_projects(ctx, uuid.uuid4())).facts == ()  # type: ignore[arg-type]
    finally:
        await engine.dispose()
